"""The JSON API under ``/api/v1/``, with its OpenAPI schema and interactive docs.

Every endpoint needs a personal token (``Authorization: Bearer <token>``) or a logged-in
session; anything else gets a 401 with a JSON message. Each app adds its own router.
"""

from __future__ import annotations

from ninja import NinjaAPI
from ninja.errors import AuthenticationError
from ninja.security import django_auth

from webapp.accounts.api import TokenAuth
from webapp.accounts.api import router as accounts_router
from webapp.datasets.api import router as datasets_router
from webapp.deployments.api import router as deployments_router
from webapp.experiments.api import router as experiments_router


class PlatformAPI(NinjaAPI):
    def get_openapi_schema(self, *args, **kwargs):
        schema = super().get_openapi_schema(*args, **kwargs)
        # The prediction endpoints check a deployment's key themselves (an unknown deployment
        # is a 404 before any key is looked at), so ninja cannot declare the scheme for them.
        schema["components"].setdefault("securitySchemes", {})["DeploymentKey"] = {
            "type": "http",
            "scheme": "bearer",
            "description": "A deployment's key, shown when it is created: `dep_...`",
        }
        return schema


api = PlatformAPI(
    title="AutoML platform API",
    version="1",
    description=(
        "Upload data, train models and call them. Authenticate with a personal token from "
        "your account page: `Authorization: Bearer <token>`."
    ),
    auth=[TokenAuth(), django_auth],
    urls_namespace="api",
    docs_url="/docs",
)
api.add_router("/", accounts_router)
api.add_router("/", datasets_router)
api.add_router("/", experiments_router)
api.add_router("/", deployments_router)


@api.exception_handler(AuthenticationError)
def unauthenticated(request, exc):
    message = (
        "Authentication required: send 'Authorization: Bearer <token>' with a token from "
        "your account page, or log in."
    )
    return api.create_response(request, {"detail": message}, status=401)
