"""A small renderer for the kustomize subset deploy/k8s uses, for machines with no
kustomize binary (tests, CI): ``python -m folio.devstack.kustomize deploy/k8s/overlays/local``.

Supported, with kustomize's meaning: ``resources`` (files and directories),
``namespace``, ``labels`` (metadata only), ``images`` (newName/newTag/digest),
``replicas``, ``configMapGenerator`` (literals, files, ``behavior: merge|replace``, with
``generatorOptions.disableNameSuffixHash``) and ``patches`` (JSON 6902, inline or by
path, targeted by kind/name). Anything else is refused rather than silently ignored, so
what this renders is what ``kustomize build`` renders.
"""

import copy
import sys
from pathlib import Path

import yaml

KNOWN = {
    "apiVersion", "kind", "resources", "namespace", "labels", "images", "replicas",
    "configMapGenerator", "generatorOptions", "patches",
}  # fmt: skip
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding"}


def _documents(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _pointer(path: str) -> list[str]:
    return [p.replace("~1", "/").replace("~0", "~") for p in path.lstrip("/").split("/")]


def _apply_op(document: dict, op: dict) -> None:
    *parents, last = _pointer(op["path"])
    node = document
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    kind = op["op"]
    if isinstance(node, list):
        index = len(node) if last == "-" else int(last)
        if kind == "add":
            node.insert(index, copy.deepcopy(op["value"]))
        elif kind == "replace":
            node[index] = copy.deepcopy(op["value"])
        elif kind == "remove":
            del node[index]
        else:
            raise ValueError(f"unsupported patch op {kind}")
    else:
        if kind in ("add", "replace"):
            if kind == "replace" and last not in node:
                raise KeyError(f"replace of missing {op['path']}")
            node[last] = copy.deepcopy(op["value"])
        elif kind == "remove":
            del node[last]
        else:
            raise ValueError(f"unsupported patch op {kind}")


def _matches(document: dict, target: dict) -> bool:
    if "kind" in target and document["kind"] != target["kind"]:
        return False
    return not ("name" in target and document["metadata"]["name"] != target["name"])


def _config_map(generator: dict, root: Path) -> dict:
    data: dict[str, str] = {}
    for literal in generator.get("literals", []):
        key, _, value = literal.partition("=")
        data[key] = value
    for entry in generator.get("files", []):
        key, _, source = entry.rpartition("=")
        source_path = (root / source).resolve()
        data[key or source_path.name] = source_path.read_text()
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": generator["name"]}, "data": data}  # fmt: skip


def _containers(document: dict) -> list[dict]:
    spec = document.get("spec", {})
    pod = spec.get("template", {}).get("spec") or spec.get("jobTemplate", {}).get("spec", {})
    if "template" in pod:
        pod = pod["template"]["spec"]
    return [*pod.get("initContainers", []), *pod.get("containers", [])]


def render(directory: Path | str) -> list[dict]:
    """The documents ``kustomize build directory`` makes."""
    root = Path(directory).resolve()
    kustomization = yaml.safe_load((root / "kustomization.yaml").read_text())
    unknown = set(kustomization) - KNOWN
    if unknown:
        raise ValueError(f"{root}: unsupported kustomization fields {sorted(unknown)}")
    documents: list[dict] = []
    for resource in kustomization.get("resources", []):
        path = root / resource
        documents += render(path) if path.is_dir() else _documents(path)
    for generator in kustomization.get("configMapGenerator", []):
        made = _config_map(generator, root)
        behavior = generator.get("behavior", "create")
        existing = [d for d in documents if d["kind"] == "ConfigMap"
                    and d["metadata"]["name"] == generator["name"]]  # fmt: skip
        if behavior == "create":
            if existing:
                raise ValueError(f"ConfigMap {generator['name']} already exists")
            documents.append(made)
        elif behavior in ("merge", "replace"):
            [current] = existing
            if behavior == "replace":
                current["data"] = {}
            current.setdefault("data", {}).update(made["data"])
        else:
            raise ValueError(f"unsupported behavior {behavior}")
    if kustomization.get("configMapGenerator") and not kustomization.get(
        "generatorOptions", {}
    ).get("disableNameSuffixHash"):
        raise ValueError("name suffix hashes are not rendered here: set disableNameSuffixHash")
    for patch in kustomization.get("patches", []):
        ops = yaml.safe_load(
            patch["patch"] if "patch" in patch else (root / patch["path"]).read_text()
        )
        if not isinstance(ops, list):
            raise ValueError("only JSON 6902 patches (a list of operations) are rendered here")
        targets = [d for d in documents if _matches(d, patch["target"])]
        if not targets:
            raise ValueError(f"patch target {patch['target']} matches nothing")
        for document in targets:
            for op in ops:
                _apply_op(document, op)
    for change in kustomization.get("replicas", []):
        for document in documents:
            if document["kind"] == "Deployment" and document["metadata"]["name"] == change["name"]:
                document["spec"]["replicas"] = change["count"]
    for image in kustomization.get("images", []):
        for document in documents:
            for container in _containers(document):
                name, _, tag = container["image"].partition(":")
                if name != image["name"]:
                    continue
                name = image.get("newName", name)
                if "digest" in image:
                    container["image"] = f"{name}@{image['digest']}"
                else:
                    container["image"] = f"{name}:{image.get('newTag', tag)}"
    for label in kustomization.get("labels", []):
        if label.get("includeSelectors") or label.get("includeTemplates"):
            raise ValueError("only metadata labels are rendered here")
        for document in documents:
            document["metadata"].setdefault("labels", {}).update(label["pairs"])
    if "namespace" in kustomization:
        for document in documents:
            if document["kind"] not in CLUSTER_SCOPED:
                document["metadata"]["namespace"] = kustomization["namespace"]
    return documents


def main(argv: list[str] | None = None) -> int:
    [directory] = argv if argv is not None else sys.argv[1:]
    sys.stdout.write(yaml.safe_dump_all(render(directory), sort_keys=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
