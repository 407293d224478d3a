"""/docs (Swagger UI) and /redoc (ReDoc) served entirely by the tracker, so they work offline.

FastAPI's own pages load Swagger UI and ReDoc from a CDN (blank without a network, and a third-party script
on a page that holds a bearer token). The assets here come from an installed package, `fastapi-offline`,
which ships swagger-ui-bundle.js, swagger-ui.css and redoc.standalone.js; we use only its static files.
They are mounted at /docs-assets/; the pages' own CSP (DOCS_CSP below) allows this origin only.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = "/docs-assets"
# Scripts, styles and images from this origin only. Swagger UI's page starts with one inline script and both pages
# inline their styles; ReDoc runs a blob: worker.
DOCS_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


def _with_policy(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = DOCS_CSP
    return page
FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")


def assets_dir() -> Path:
    """The installed package's static folder (checked at start-up: a missing file is an install problem)."""
    folder = Path(str(files("fastapi_offline") / "static"))
    missing = [name for name in FILES if not (folder / name).is_file()]
    if missing:
        raise RuntimeError(f"fastapi-offline is installed without {', '.join(missing)} in {folder}")
    return folder


def install(app: FastAPI) -> None:
    """Add /docs, /docs/oauth2-redirect, /redoc and the assets; create the app with docs_url=redoc_url=None."""
    app.mount(ASSETS, StaticFiles(directory=assets_dir()), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"
    title = app.title

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return _with_policy(get_swagger_ui_html(
            openapi_url=openapi_url, title=f"{title} - API", oauth2_redirect_url="/docs/oauth2-redirect",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js", swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon.png",
        ))

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    def swagger_ui_redirect() -> HTMLResponse:
        return _with_policy(get_swagger_ui_oauth2_redirect_html())

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return _with_policy(get_redoc_html(
            openapi_url=openapi_url, title=f"{title} - API reference", redoc_js_url=f"{ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS}/favicon.png", with_google_fonts=False,
        ))
