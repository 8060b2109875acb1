"""The Vite build of the frontend: which files an entry needs, read from its manifest.

`vite build` with `build.manifest` writes frontend/dist/.vite/manifest.json, mapping each entry
(e.g. "src/main.ts") to its hashed JS file, its CSS and the chunks it imports. The files are
served as static files (frontend/dist is a STATICFILES_DIRS entry), so Vite's `base` is
STATIC_URL.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.templatetags.static import static

ENTRY = "src/main.ts"
_cache: dict[str, tuple[float, dict]] = {}


class FrontendNotBuilt(LookupError):
    """The manifest (or the entry in it) is missing: the frontend has not been built."""


@dataclass
class EntryAssets:
    """URLs of the script, stylesheets and preloaded chunks of one entry."""

    script: str
    styles: list[str] = field(default_factory=list)
    preloads: list[str] = field(default_factory=list)


def manifest_path() -> Path:
    return Path(settings.FRONTEND_DIST) / ".vite" / "manifest.json"


def load_manifest() -> dict:
    """The manifest, re-read only when the file changed (a rebuild while the server runs)."""
    path = manifest_path()
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError as exc:
        raise FrontendNotBuilt(f"{path} does not exist") from exc
    cached = _cache.get(str(path))
    if cached and cached[0] == mtime:
        return cached[1]
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise FrontendNotBuilt(f"{path} is not readable JSON ({exc})") from exc
    _cache[str(path)] = (mtime, manifest)
    return manifest


def entry_assets(entry: str = ENTRY) -> EntryAssets:
    manifest = load_manifest()
    if entry not in manifest:
        raise FrontendNotBuilt(f"the manifest has no entry {entry!r}")
    chunk = manifest[entry]
    styles: list[str] = list(chunk.get("css", []))
    preloads: list[str] = []
    seen: set[str] = set()
    pending = list(chunk.get("imports", []))
    while pending:  # CSS of statically imported chunks must load with the entry too
        name = pending.pop(0)
        if name in seen or name not in manifest:
            continue
        seen.add(name)
        preloads.append(manifest[name]["file"])
        styles.extend(manifest[name].get("css", []))
        pending.extend(manifest[name].get("imports", []))
    return EntryAssets(
        script=static(chunk["file"]),
        styles=[static(s) for s in dict.fromkeys(styles)],
        preloads=[static(p) for p in preloads],
    )
