"""A simulator's root page: what it is and the routes it serves, for whoever opens its
address (the `make run` banner prints it)."""

from fastapi import FastAPI


def add_index(app: FastAPI, what: str) -> None:
    """``GET /`` answers JSON naming the simulator, saying ``what`` it is for and listing
    its routes, read from the app's own OpenAPI description (so none is forgotten)."""

    @app.get("/", include_in_schema=False)
    async def index() -> dict:
        routes = [
            {"method": method.upper(), "path": path, "summary": operation.get("summary")}
            for path, operations in app.openapi()["paths"].items()
            for method, operation in operations.items()
        ]
        return {
            "simulator": app.title,
            "what": what,
            "docs": app.docs_url if app.openapi_url else None,
            "routes": routes,
        }
