"""Home Assistant's MQTT discovery schema, as documented, for checking what edgekit publishes.

Written from the Home Assistant documentation (integrations/mqtt "Discovery",
binary_sensor.mqtt, sensor.mqtt, image.mqtt): the discovery topic format, the
configuration variables each component accepts (full names; we publish no
abbreviations), which are required, the ``device``, ``origin`` and
``availability`` blocks and the rules for topics. :func:`problems` lists every
way a ``(topic, payload)`` departs from it; an empty list means it conforms.
"""

from __future__ import annotations

import re
from typing import Any

TOPIC = re.compile(r"^(?P<prefix>[^/#+\s]+)/(?P<component>[a-z_]+)/(?:(?P<node>[a-zA-Z0-9_-]+)/)?"
                   r"(?P<object>[a-zA-Z0-9_-]+)/config$")

# Options every MQTT entity takes (availability, device, naming, attributes, ...).
COMMON = {"availability", "availability_mode", "availability_template", "availability_topic",
          "default_entity_id", "device", "enabled_by_default", "encoding", "entity_category",
          "entity_picture", "icon", "json_attributes_template", "json_attributes_topic", "name",
          "object_id", "origin", "payload_available", "payload_not_available", "platform", "qos",
          "unique_id"}
COMPONENTS: dict[str, set[str]] = {
    "binary_sensor": COMMON | {"device_class", "expire_after", "force_update", "off_delay",
                               "payload_off", "payload_on", "state_topic", "value_template"},
    "sensor": COMMON | {"device_class", "expire_after", "force_update", "last_reset_value_template",
                        "options", "suggested_display_precision", "state_class", "state_topic",
                        "unit_of_measurement", "value_template"},
    "image": COMMON | {"content_type", "image_encoding", "image_topic", "url_template", "url_topic"},
}
DEVICE = {"configuration_url", "connections", "hw_version", "identifiers", "manufacturer", "model",
          "model_id", "name", "serial_number", "suggested_area", "sw_version", "via_device"}
ORIGIN = {"name", "sw_version", "support_url"}
AVAILABILITY = {"topic", "payload_available", "payload_not_available", "value_template"}
STATE_CLASSES = {"measurement", "measurement_angle", "total", "total_increasing"}
ENTITY_CATEGORIES = {"config", "diagnostic"}
TOPIC_KEYS = ("state_topic", "json_attributes_topic", "image_topic", "url_topic", "availability_topic")


def topic_problem(topic: Any) -> str | None:
    """Why ``topic`` is not a valid topic to subscribe to (``None`` if it is)."""
    if not isinstance(topic, str) or not topic:
        return "must be a non-empty string"
    if "\0" in topic or len(topic.encode()) > 65535:
        return "has NUL or is too long"
    levels = topic.split("/")
    for i, level in enumerate(levels):
        if "#" in level and (level != "#" or i != len(levels) - 1):
            return "'#' only as the whole last level"
        if "+" in level and level != "+":
            return "'+' only as a whole level"
    return None


def _block(name: str, value: Any, allowed: set[str]) -> list[str]:
    if not isinstance(value, dict):
        return [f"{name} must be a mapping"]
    out = [f"{name}.{k} is not a documented option" for k in value if k not in allowed]
    out += [f"{name}.{k} must be a string" for k, v in value.items()
            if k not in ("identifiers", "connections") and not isinstance(v, str)]
    return out


def problems(topic: str, payload: dict[str, Any]) -> list[str]:
    """Every way ``payload`` published on ``topic`` departs from the documented schema."""
    found = TOPIC.match(topic)
    if not found:
        return [f"topic {topic!r} is not <prefix>/<component>/[<node_id>/]<object_id>/config"]
    component = found["component"]
    if component not in COMPONENTS:
        return [f"component {component!r} is not one we check"]
    out = [f"{k} is not a documented {component} option" for k in payload if k not in COMPONENTS[component]]
    if component in ("binary_sensor", "sensor") and "state_topic" not in payload:
        out.append("state_topic is required")
    if component == "image":
        if ("image_topic" in payload) == ("url_topic" in payload):
            out.append("exactly one of image_topic and url_topic is required")
        if "content_type" in payload and "url_topic" in payload:
            out.append("content_type cannot be used with url_topic")
    out += [f"{k}: {p}" for k in TOPIC_KEYS if k in payload and (p := topic_problem(payload[k]))]
    if "device" in payload:
        out += _block("device", payload["device"], DEVICE)
        ids = payload["device"].get("identifiers") if isinstance(payload["device"], dict) else None
        if not (isinstance(ids, list) and ids and all(isinstance(i, str) for i in ids)) \
                and not payload["device"].get("connections"):
            out.append("device needs identifiers (a list of strings) or connections")
        if not isinstance(payload.get("unique_id"), str) or not payload["unique_id"]:
            out.append("device information needs a unique_id")
    if "origin" in payload:
        out += _block("origin", payload["origin"], ORIGIN)
        if not payload["origin"].get("name"):
            out.append("origin.name is required")
    if "availability" in payload:
        if "availability_topic" in payload:
            out.append("availability and availability_topic are exclusive")
        entries = payload["availability"]
        if not isinstance(entries, list) or not entries:
            out.append("availability must be a non-empty list")
        else:
            for entry in entries:
                out += _block("availability[]", entry, AVAILABILITY)
                if not isinstance(entry, dict) or topic_problem(entry.get("topic")):
                    out.append("availability[].topic is required and must be a valid topic")
    if "state_class" in payload and payload["state_class"] not in STATE_CLASSES:
        out.append(f"state_class must be one of {sorted(STATE_CLASSES)}")
    if "entity_category" in payload and payload["entity_category"] not in ENTITY_CATEGORIES:
        out.append("entity_category must be config or diagnostic")
    for key in ("name", "payload_on", "payload_off", "icon", "content_type", "unit_of_measurement"):
        if key in payload and payload[key] is not None and not isinstance(payload[key], str):
            out.append(f"{key} must be a string")
    return out
