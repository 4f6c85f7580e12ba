"""The OpenAPI 3.1 document, generated from the route table and the pydantic body models,
served at `/openapi.json`."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict
from pydantic.json_schema import JsonSchemaMode, models_json_schema
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapters.breaker import BreakerState
from bridge.auth import CUSTOMERS_READ, ORDERS_READ, ORDERS_WRITE
from bridge.cursors import MAX_CURSOR_LENGTH
from bridge.idempotency import KEY_PATTERN
from bridge.limits import MAX_PATH_BYTES, MAX_QUERY_BYTES
from bridge.oauth import TOKEN_PATH, OAuthErrorBody, TokenForm, TokenResponse
from bridge.params import MAX_ID_LENGTH, MAX_TEXT, PATH_ID_PATTERN
from bridge.readiness import PlatformHealth
from bridge.routes import ERC_ROUTES, PREFIXES, SLOT_ROUTES, ERCRoute
from bridge.settings import BridgeSettings
from bridge.webhooks import MAX_BODY_BYTES as WEBHOOK_MAX_BODY_BYTES
from bridge.webhooks import PATH as WEBHOOK_PATH
from bridge.writes import KEPT_STATUSES, MAX_BODY_BYTES, WRITE_ROUTES, WriteRoute
from mappings.bodies import (
    CartBody,
    CustomerBody,
    ErrorBody,
    ItemsPageBody,
    MostRecentOrderBody,
    OrderDetailBody,
    OrdersPageBody,
    ProductsPageBody,
    ShipmentsPageBody,
)

OPENAPI_PATH = "/openapi.json"
REF = "#/components/schemas/{model}"


class HealthBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["ok"]


class ReadinessBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["ready", "not_ready"]
    reason: str | None = None
    """Why this process cannot serve, when not ready."""
    platform: PlatformHealth
    """What the last check found of the platform; it does not decide readiness, except
    `credentials_rejected`."""
    breaker: BreakerState
    """The worst state of the platform's circuit breakers."""
    redis: Literal["reachable", "unreachable"] | None = None
    """Whether the Redis the replicas share answers; only with `ERC_BRIDGE_REDIS_URL`. It
    does not decide readiness."""


BODIES: dict[str, tuple[type[BaseModel], str]] = {
    "/customers/{customer_id}": (CustomerBody, "The customer (R1)"),
    "/customers/{customer_id}/orders": (OrdersPageBody, "One page of the customer's orders (R2)"),
    "/customers/{customer_id}/orders/{order_id}": (OrderDetailBody, "One order (R3)"),
    "/customers/{customer_id}/orders/{order_id}/items": (
        ItemsPageBody,
        "One page of the order's items (R4)",
    ),
    "/customers/{customer_id}/most-recent-order": (
        MostRecentOrderBody,
        "The customer's most recent order (R5)",
    ),
    "/customers/{customer_id}/shipments": (
        ShipmentsPageBody,
        "One page of the customer's shipments, newest first (R6)",
    ),
    "/products": (ProductsPageBody, "One page of the catalog (R7)"),
    "/customers/cart": (CartBody, "A cart, by its id or as the customer's current cart (R8)"),
}
SLOT_SUMMARIES = {
    "/customers/{customer_id}/shipments/schedule": "Book a delivery slot (not supported)",
    "/customers/shipments/available-slots": "List delivery slots (not supported)",
}

ERRORS = {
    "400": "A parameter (each one listed in `fields`) or the cursor is invalid",
    "401": "Missing or invalid credentials",
    "403": "The credentials do not grant the route's scope",
    "404": "No such customer, order or cart (an order of another customer included), or "
    "`brand` names another brand than this store's",
    "408": "The request's headers, or its body, did not arrive in time (`request_timeout`)",
    "414": f"The path exceeds {MAX_PATH_BYTES} or the query string {MAX_QUERY_BYTES} bytes",
    "429": "Too many failed authentications from this address",
    "431": "The request headers are too large",
    "500": "A bug, logged with the request id",
    "501": "The platform adapter cannot serve this route",
    "502": "The platform answered with an error or an unusable body",
    "503": "The platform is unavailable (`upstream_unavailable`), or the bridge holds as many "
    "connections as it takes (`unavailable`)",
    "504": "The platform did not answer in time",
}

WRITE_ERRORS = {
    **ERRORS,
    "400": "The body (each bad field listed in `fields`), a path id or the Idempotency-Key "
    "is invalid, or an id is not a product line of the order",
    "404": "No such customer or order (an order of another customer included), or `brand` "
    "names another brand than this store's; nothing was written",
    "409": "A request with this Idempotency-Key is still being answered, or another change "
    "to this order was still being made after half the deadline (`conflict`); nothing "
    "was written",
    "413": f"The body is larger than {MAX_BODY_BYTES} bytes (`payload_too_large`)",
    "415": "The body is not `application/json` (`unsupported_media_type`)",
    "422": "The order's state does not allow the change (`not_allowed`, a sentence an agent "
    "can read out; `fields` names the body field to blame), or the Idempotency-Key was used "
    "for another request (`idempotency_key_reused`); nothing was written",
    "501": "Writes are off (`ERC_BRIDGE_WRITES`), or the platform adapter cannot serve this route",
    "503": "The platform is unavailable (`upstream_unavailable`; a connection lost after the "
    "write was sent may still have changed the order), or the Idempotency-Key or the "
    "order's turn could not be checked across replicas in time, or the bridge holds as "
    "many connections as it takes (`unavailable`, nothing written)",
    "504": "The platform did not answer in time, or did not confirm the change "
    "(`upstream_timeout`): the change may or may not have been made",
}

IDEMPOTENCY_PARAMETER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Makes the request safe to repeat for 24 hours: a repeat with the same "
    "key, route, ids and body gets the first answer again (with `Idempotent-Replayed: "
    "true`) without reaching the platform",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": KEY_PATTERN},
}

_ID_SCHEMA = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_ID_LENGTH,
    "pattern": PATH_ID_PATTERN,
}

QUERY_PARAMETERS: dict[str, dict[str, Any]] = {
    "brand": {
        "description": "This store's brand; another brand is 404",
        "schema": {"type": "string", "maxLength": MAX_TEXT},
    },
    "limit": {
        "description": "Page size (default 20; above 100 is served as 100)",
        "schema": {"type": "integer", "minimum": 1},
    },
    "cursor": {
        "description": "The opaque cursor of `_links.next.href`, passed back as it is; "
        "any other value is 400 `invalid_cursor`",
        "schema": {"type": "string", "maxLength": MAX_CURSOR_LENGTH},
    },
    "order_by": {"description": "`field:asc` or `field:desc`"},
    "search": {
        "description": "Case-insensitive substring of the order number",
        "schema": {"type": "string", "maxLength": MAX_TEXT},
    },
    "order_id": {"description": "Only the shipments of this order", "schema": _ID_SCHEMA},
    "tracking_number": {
        "description": "Only the shipment with this tracking number",
        "schema": {"type": "string", "maxLength": MAX_TEXT},
    },
    "customer_id": {
        "description": "The customer whose current cart to answer (exactly one of "
        "`customer_id` and `cart_id`); some platforms cannot, and answer 400 naming it",
        "schema": _ID_SCHEMA,
    },
    "cart_id": {
        "description": "The cart to answer (exactly one of `customer_id` and `cart_id`); "
        "never creates one",
        "schema": _ID_SCHEMA,
    },
}
BRAND_PARAMETER = {"name": "brand", "in": "query", "required": False, **QUERY_PARAMETERS["brand"]}
"""What every route accepts (SPEC §1), the routes without other query parameters too."""
ROUTE_QUERY_PARAMETERS: dict[tuple[str, str], dict[str, Any]] = {
    ("/products", "search"): {
        "description": "Words to look for in the catalog (what each platform matches: "
        "the adapter's documentation)",
        "schema": {"type": "string", "maxLength": MAX_TEXT},
    },
}


def _version() -> str:
    try:
        return metadata.version("erc-bridge")
    except metadata.PackageNotFoundError:
        return "0"


def _without_nulls(schema: Any) -> Any:
    """Bodies never carry `null` (absent optional fields are omitted): say so."""
    if isinstance(schema, list):
        return [_without_nulls(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    cleaned = {key: _without_nulls(value) for key, value in schema.items()}
    if "anyOf" in cleaned:
        branches = [b for b in cleaned["anyOf"] if b != {"type": "null"}]
        if len(branches) == 1:
            del cleaned["anyOf"]
            cleaned = {**branches[0], **cleaned}
        else:
            cleaned["anyOf"] = branches
    if cleaned.get("default", ...) is None:
        del cleaned["default"]
    return cleaned


def component_schemas(
    models: Iterable[tuple[type[BaseModel], JsonSchemaMode]],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """`$ref`s for `models`, and every schema they need."""
    refs, definitions = models_json_schema(list(models), by_alias=True, ref_template=REF)
    return (
        {model.__name__: ref for (model, _), ref in refs.items()},
        {name: _without_nulls(schema) for name, schema in definitions["$defs"].items()},
    )


def _request_schemas(
    models: Iterable[type[BaseModel]],
) -> tuple[dict[str, Any], dict[str, Any]]:
    refs, definitions = models_json_schema(
        [(model, "validation") for model in models], by_alias=True, ref_template=REF
    )
    return {model.__name__: ref for (model, _), ref in refs.items()}, definitions["$defs"]


def _json_content(ref: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": ref}}


def _header(description: str, schema_type: str = "string") -> dict[str, Any]:
    return {"description": description, "schema": {"type": schema_type}}


def _answer_headers() -> dict[str, Any]:
    """The headers of every answer of an ERC route, the front door's refusals too."""
    return {
        "X-Request-Id": _header("The request id, as logged"),
        "Cache-Control": _header("`private, no-store`: the answer is the caller's alone"),
    }


def _error_responses(error_ref: dict[str, Any], errors: dict[str, str] = ERRORS) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, description in errors.items():
        headers = _answer_headers()
        if status == "401":
            headers["WWW-Authenticate"] = _header("The accepted authentication schemes")
        if status in ("429", "503"):
            headers["Retry-After"] = _header("Seconds to wait before retrying", "integer")
        if status == "429":
            headers["Retry-After"]["required"] = True
        responses[status] = {
            "description": description,
            "headers": headers,
            "content": _json_content(error_ref),
        }
    return responses


def _path_parameters(path: str) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "in": "path",
            "required": True,
            "description": "An opaque platform id",
            "schema": _ID_SCHEMA,
        }
        for name in re.findall(r"{(\w+)}", path)
    ]


def _parameters(route: ERCRoute) -> list[dict[str, Any]]:
    parameters = _path_parameters(route.path)
    for name in route.accepts:
        described = ROUTE_QUERY_PARAMETERS.get((route.path, name), QUERY_PARAMETERS[name])
        parameter = {"name": name, "in": "query", "required": False, **described}
        if name == "order_by":
            values = [f"{field}:{d}" for field in route.sort_fields for d in ("asc", "desc")]
            parameter["schema"] = {"type": "string", "enum": values}
        parameters.append(parameter)
    return parameters


def _scoped(security: list[dict[str, list[str]]], oauth_scope: str) -> list[dict[str, list[str]]]:
    return [
        {name: [oauth_scope] if name == "OAuth2" else [] for name in requirement}
        for requirement in security
    ]


@dataclass(frozen=True, slots=True)
class _FamilyOperation:
    """One operation of the ERC family, the same under each of its prefixes."""

    method: str
    path: str
    name: str
    summary: str
    parameters: list[dict[str, Any]]
    security: list[dict[str, list[str]]]
    responses: dict[str, Any]
    description: str | None = None
    request_body: dict[str, Any] | None = None

    def under(self, prefix: str) -> dict[str, Any]:
        """The operation under `prefix`, tagged and named after it."""
        tag = prefix.rsplit("/", 1)[-1]
        operation: dict[str, Any] = {"operationId": f"{tag}_{self.name}", "summary": self.summary}
        if self.description is not None:
            operation["description"] = self.description
        operation |= {"tags": [tag], "parameters": self.parameters, "security": self.security}
        if self.request_body is not None:
            operation["requestBody"] = self.request_body
        operation["responses"] = self.responses
        return operation


def _family_paths(operations: Iterable[_FamilyOperation]) -> dict[str, Any]:
    """Every one of `operations` under every prefix of the ERC family."""
    listed = list(operations)
    return {
        prefix + operation.path: {operation.method.lower(): operation.under(prefix)}
        for prefix in PREFIXES
        for operation in listed
    }


def _read_operation(
    route: ERCRoute,
    refs: dict[str, dict[str, Any]],
    security: list[dict[str, list[str]]],
    errors: dict[str, Any],
) -> _FamilyOperation:
    model, summary = BODIES[route.path]
    success = {
        "description": summary,
        "headers": _answer_headers(),
        "content": _json_content(refs[model.__name__]),
    }
    return _FamilyOperation(
        "GET",
        route.path,
        route.handler.__name__,
        summary,
        _parameters(route),
        _scoped(security, route.oauth_scope),
        {"200": success, **errors},
    )


def _slot_operation(
    method: str,
    path: str,
    oauth_scope: str,
    security: list[dict[str, list[str]]],
    errors: dict[str, Any],
) -> _FamilyOperation:
    """A delivery slot route: in the ERC family, served by no platform here."""
    return _FamilyOperation(
        method,
        path,
        path.rsplit("/", 1)[-1].replace("-", "_"),
        SLOT_SUMMARIES[path],
        [*_path_parameters(path), BRAND_PARAMETER],
        _scoped(security, oauth_scope),
        errors,
        description="No platform the bridge serves has delivery slots: "
        "answered 501 `not_supported` to a caller allowed to ask.",
    )


def _write_operation(
    route: WriteRoute,
    refs: dict[str, dict[str, Any]],
    security: list[dict[str, list[str]]],
) -> _FamilyOperation:
    replayed = {
        "Idempotent-Replayed": _header("`true` when this is the first answer to the same request")
    }
    errors = _error_responses(refs["ErrorBody"], WRITE_ERRORS)
    for status in sorted(KEPT_STATUSES - {200}):
        errors[str(status)]["headers"] = {**errors[str(status)]["headers"], **replayed}
    success: dict[str, Any] = {
        "description": "The change is made, or was already in place",
        "headers": {**_answer_headers(), **replayed},
    }
    if route.answers_items:
        success["description"] += ": the order's items after it (R4, first page)"
        success["content"] = _json_content(refs["ItemsPageBody"])
    return _FamilyOperation(
        route.method,
        route.path,
        route.action,
        route.summary,
        [*_path_parameters(route.path), BRAND_PARAMETER, IDEMPOTENCY_PARAMETER],
        _scoped(security, ORDERS_WRITE),
        {"200": success, **errors},
        request_body={
            "required": route.body_required,
            "content": _json_content(refs[route.body.__name__]),
        },
    )


def _token_path(refs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    no_store = {"Cache-Control": _header("no-store")}
    error = {"content": _json_content(refs["OAuthErrorBody"]), "headers": no_store}
    return {
        "post": {
            "operationId": "issue_token",
            "summary": "Issue an access token (OAuth2 client credentials, RFC 6749 §4.4)",
            "description": "The client authenticates with HTTP Basic or with `client_id` and "
            "`client_secret` form fields; `scope` must be a subset of the client's scopes.",
            "tags": ["oauth"],
            "security": [],
            "requestBody": {
                "required": True,
                "content": {
                    "application/x-www-form-urlencoded": {"schema": refs["TokenForm"]},
                },
            },
            "responses": {
                "200": {
                    "description": "The access token",
                    "headers": no_store,
                    "content": _json_content(refs["TokenResponse"]),
                },
                "400": {
                    "description": "invalid_request, invalid_scope, or unsupported_grant_type",
                    **error,
                },
                "401": {"description": "invalid_client", **error},
                **{
                    status: {
                        "description": ERRORS[status],
                        "content": _json_content(refs["ErrorBody"]),
                    }
                    for status in ("408", "414", "431")
                },
                "429": {
                    "description": "Too many failed authentications from this address",
                    **error,
                    "headers": {
                        **no_store,
                        "Retry-After": {**_header("Seconds to wait", "integer"), "required": True},
                    },
                },
            },
        }
    }


def _plain_get(operation_id: str, summary: str, ref: dict[str, Any]) -> dict[str, Any]:
    return {
        "get": {
            "operationId": operation_id,
            "summary": summary,
            "tags": ["service"],
            "security": [],
            "responses": {"200": {"description": summary, "content": _json_content(ref)}},
        }
    }


def _readiness_path(refs: dict[str, Any]) -> dict[str, Any]:
    operation = _plain_get("ready", "Readiness", refs["ReadinessBody"])
    operation["get"]["responses"]["503"] = {
        "description": "Not ready: the adapter is not open or the platform rejects the "
        "bridge's credentials; `reason` says which",
        "content": _json_content(refs["ReadinessBody"]),
    }
    return operation


def _metrics_path(refs: dict[str, Any]) -> dict[str, Any]:
    text = {"schema": {"type": "string"}}
    return {
        "get": {
            "operationId": "metrics",
            "summary": "Prometheus metrics",
            "description": "When `ERC_BRIDGE_METRICS_KEY` is set, send it as a bearer token "
            "or in `X-API-Key`; otherwise any credential the ERC routes accept (none on the "
            "demo store without credentials).",
            "tags": ["service"],
            "security": [],
            "responses": {
                "200": {
                    "description": "The Prometheus text exposition (OpenMetrics on request)",
                    "content": {"text/plain": text, "application/openmetrics-text": text},
                },
                "401": {
                    "description": "The metrics key, or an ERC credential, was not sent",
                    "headers": {"WWW-Authenticate": _header("The accepted scheme")},
                    "content": _json_content(refs["ErrorBody"]),
                },
                "429": {
                    "description": ERRORS["429"],
                    "headers": {
                        "Retry-After": {**_header("Seconds to wait", "integer"), "required": True}
                    },
                    "content": _json_content(refs["ErrorBody"]),
                },
            },
        }
    }


def _webhook_path(refs: dict[str, Any]) -> dict[str, Any]:
    def refused(description: str) -> dict[str, Any]:
        return {"description": description, "content": _json_content(refs["ErrorBody"])}

    return {
        "post": {
            "operationId": "receive_webhook",
            "summary": "Receive a platform's order or customer event",
            "description": "Called by the platform, not by Talkdesk: the delivery proves its "
            "sender (Elastic Path: `X-MOLTIN-SECRET-KEY`; BigCommerce: Standard Webhooks "
            "`webhook-id`, `webhook-timestamp` and `webhook-signature`), and what it names "
            "is dropped from every cache so the next read asks the platform. The platform "
            "is never called. See docs/webhooks.md.",
            "tags": ["webhooks"],
            "security": [],
            "parameters": [
                {
                    "name": "adapter",
                    "in": "path",
                    "required": True,
                    "description": "The adapter this bridge serves (`elasticpath`, `bigcommerce`)",
                    "schema": {"type": "string"},
                }
            ],
            "requestBody": {
                "required": True,
                "description": f"The platform's delivery, at most {WEBHOOK_MAX_BODY_BYTES} bytes",
                "content": {"application/json": {"schema": {"type": "object"}}},
            },
            "responses": {
                "204": {"description": "Received: what the event names is forgotten"},
                "400": refused(
                    "Not acted on: unreadable, naming nothing to refresh, or received before"
                ),
                "401": refused("Not acted on: the delivery does not prove its sender"),
                "404": refused("This bridge receives no webhooks for that adapter"),
                # The front door's bounds hold on every path, this one's too.
                "408": refused(ERRORS["408"]),
                "414": refused(ERRORS["414"]),
                "431": refused(ERRORS["431"]),
            },
        }
    }


def build_document(settings: BridgeSettings, *, open_access: bool = False) -> dict[str, Any]:
    refs, schemas = component_schemas(
        [
            *((model, "serialization") for model, _ in BODIES.values()),
            (ErrorBody, "serialization"),
            (TokenForm, "validation"),
            (TokenResponse, "serialization"),
            (OAuthErrorBody, "serialization"),
            (HealthBody, "serialization"),
            (ReadinessBody, "serialization"),
        ]
    )
    # Request bodies as the bridge reads them: `null` is accepted where a field may be absent.
    write_refs, write_schemas = _request_schemas(route.body for route in WRITE_ROUTES)
    refs, schemas = {**refs, **write_refs}, {**schemas, **write_schemas}
    errors = _error_responses(refs["ErrorBody"])
    base = settings.public_url or ""
    security: list[dict[str, list[str]]] = [{"ApiKey": []}, {"Basic": []}, {"OAuth2": []}]
    if open_access:  # the demo store without credentials answers anyone
        security.append({})
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "erc-bridge",
            "version": _version(),
            "description": "Talkdesk Retail Experience Cloud e-commerce connection routes.",
        },
        "paths": {
            **_family_paths(_read_operation(route, refs, security, errors) for route in ERC_ROUTES),
            **_family_paths(_write_operation(route, refs, security) for route in WRITE_ROUTES),
            **_family_paths(_slot_operation(*slot, security, errors) for slot in SLOT_ROUTES),
            TOKEN_PATH: _token_path(refs),
            "/healthz": _plain_get("health", "Liveness", refs["HealthBody"]),
            "/readyz": _readiness_path(refs),
            "/metrics": _metrics_path(refs),
            WEBHOOK_PATH: _webhook_path(refs),
            OPENAPI_PATH: _plain_get("openapi", "This document", {"type": "object"}),
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "Basic": {"type": "http", "scheme": "basic"},
                "OAuth2": {
                    "type": "oauth2",
                    "flows": {
                        "clientCredentials": {
                            "tokenUrl": base + TOKEN_PATH,
                            "scopes": {
                                CUSTOMERS_READ: "Read customers, the catalog and carts "
                                "(R1, R7, R8)",
                                ORDERS_READ: "Read orders, their items and shipments (R2-R6)",
                                ORDERS_WRITE: "Cancel orders and items, change shipping "
                                "addresses (W1-W3)",
                            },
                        }
                    },
                },
            },
        },
    }
    if settings.public_url:
        document["servers"] = [{"url": settings.public_url}]
    return document


def openapi_route(document: dict[str, Any]) -> Route:
    body = orjson.dumps(document)

    async def openapi(request: Request) -> Response:
        return Response(body, media_type="application/json")

    return Route(OPENAPI_PATH, openapi, methods=["GET"])
