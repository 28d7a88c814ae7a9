"""config.* handlers: runtime settings, persisted in the database, live on change."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from queuectl import protocol as P
from queuectl import settings
from queuectl.daemon.rpc import Param, Send, method
from queuectl.jobs import ValidationError

if TYPE_CHECKING:
    from queuectl.daemon.api import Api


def _check(key: str, value: Any) -> Any:
    try:
        return settings.check(key, value)
    except ValidationError as exc:
        raise P.invalid_params(str(exc), exc.field, key=key) from None


@method(
    "config.get",
    Param("key", "string", required=True),
    description="One setting's current value.",
    result='{"key", "value", "default", "description"}',
    errors=(P.INVALID_PARAMS,),
)
def get(api: Api, send: Send, key: str) -> dict[str, Any]:
    _check(key, settings.SETTINGS[key].default if key in settings.SETTINGS else None)
    s = settings.SETTINGS[key]
    return {"key": key, "value": api.config[key], "default": s.default, "description": s.help}


@method(
    "config.set",
    Param("key", "string", required=True),
    Param("value", "any", required=True, description="typed JSON value (a number, a string)"),
    description="Change a setting; it is saved and takes effect at once.",
    result='{"key", "value"}',
    errors=(P.INVALID_PARAMS,),
)
def set_(api: Api, send: Send, key: str, value: Any) -> dict[str, Any]:
    value = _check(key, value)
    api.set_config(key, value)
    api.events.emit("config.changed", key=key, value=value)
    return {"key": key, "value": value}


@method("config.list", description="Every setting with its value.", result='{"key": value, ...}')
def list_(api: Api, send: Send) -> dict[str, Any]:
    return dict(api.config)
