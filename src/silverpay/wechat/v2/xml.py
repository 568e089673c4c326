"""The flat XML of API v2 bodies: ``<xml><name>value</name>…</xml>``.

Decoding is the attack surface of every notify URL (SPEC §2.13, the 2018 XXE advisory), so it is
strict: a size cap before parsing, any DOCTYPE / entity / external reference refused by
defusedxml, one level of children only, no repeated names, no stray text between elements.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from xml.etree.ElementTree import ParseError

import defusedxml
import defusedxml.ElementTree

from silverpay.errors import XmlError

MAX_BODY_BYTES = 64 * 1024
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def _cdata(text: str) -> str:
    # "]]>" cannot appear inside one CDATA section; split it across two.
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def encode(params: Mapping[str, object], root: str = "xml") -> str:
    """Serialise flat params; strings go in CDATA, integers bare (as WeChat sends ``total_fee``).

    ``None`` values are left out, so optional fields can be passed through unconditionally.
    """
    parts = [f"<{root}>"]
    for name, value in params.items():
        if value is None:
            continue
        if not _NAME.match(name):
            raise XmlError(f"invalid element name {name!r}")
        if isinstance(value, bool):
            raise XmlError(f"field {name} must be a string or an integer")
        body = str(value) if isinstance(value, int) else _cdata(str(value))
        parts.append(f"<{name}>{body}</{name}>")
    parts.append(f"</{root}>")
    return "".join(parts)


def decode(data: bytes | str, *, max_bytes: int = MAX_BODY_BYTES) -> dict[str, str]:
    """Parse a flat v2 body into ``{name: text}``; raise :class:`XmlError` for anything else."""
    raw = data.encode() if isinstance(data, str) else data
    if len(raw) > max_bytes:
        raise XmlError(f"body larger than {max_bytes} bytes")
    if not raw.strip():
        raise XmlError("empty body")
    try:
        root = defusedxml.ElementTree.fromstring(raw, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except defusedxml.DTDForbidden:
        raise XmlError("DOCTYPE is not allowed") from None
    except (defusedxml.EntitiesForbidden, defusedxml.ExternalReferenceForbidden):
        raise XmlError("entities are not allowed") from None
    except defusedxml.DefusedXmlException:
        raise XmlError("unsafe XML") from None
    except ParseError as exc:
        raise XmlError(f"malformed XML ({exc.msg if hasattr(exc, 'msg') else 'parse error'})") from None
    except ValueError:  # expat refuses a declared multi-byte encoding (GBK, UTF-16) before parsing
        raise XmlError("unsupported XML encoding") from None
    if (root.text or "").strip():
        raise XmlError("text outside elements")
    fields: dict[str, str] = {}
    for child in root:
        if (child.tail or "").strip():
            raise XmlError("text outside elements")
        if len(child):
            raise XmlError(f"nested elements are not allowed (in <{child.tag}>)")
        if child.tag in fields:
            raise XmlError(f"element <{child.tag}> appears twice")
        fields[child.tag] = child.text or ""
    return fields
