"""Problems found in a blueprint, and the one table of their stable codes.

Every finding of the parser, the validator, the lint rules and the Compose importer is a
:class:`Problem`. Clients switch on ``code`` (never on message text), so codes are stable: a code
is never reused for a different meaning.

Errors (``MSX-E…``) make a blueprint invalid:

======== ================================================================================
Code     Meaning
======== ================================================================================
E001     YAML syntax error (or text that is not valid Unicode)
E002     document too large or too complex (size, node count, alias expansion, nesting)
E003     more than one YAML document in the file
E004     the top level is not a mapping (or the document is empty)
E005     a required field is missing
E006     unknown field (with a did-you-mean suggestion)
E007     wrong type (e.g. a list where a mapping is expected)
E008     invalid value (not one of the allowed values, out of range, malformed)
E009     duplicate key in a YAML mapping
E010     the blueprint defines no services
E011     two services share a name
E012     a name is not a DNS-1123 label (or port name not an IANA service name)
E013     a service has no image (and is not an enabled mock)
E014     invalid image reference
E015     invalid port (outside 1-65535, or a malformed port string)
E016     duplicate port in one service
E017     invalid Kubernetes quantity (cpu, memory, volume size)
E018     ``dependsOn`` (or another reference) names a service that does not exist
E019     dependency cycle
E020     routing mode rule broken (overlay without baseline, removed outside overlays, ...)
E021     invalid HTTP header name
E022     a plan overrides a service that does not exist
E023     the selected plan does not exist
E024     an exposed service declares no ports
E025     invalid duration (``ttl``, probe timings)
E026     conflicting or incomplete options (two probe handlers, script and inline, ...)
E027     a resource limit is lower than its request
E028     duplicate entry (volume, mount path, secret, environment variable)
E029     unsupported YAML feature (custom tags, non-string keys, recursive aliases)
E030     internal validator error (a bug: the input could not be checked)
E031     option not supported by MicroStax (refused rather than silently ignored)
E101     Compose import: the file has no services
E102     Compose import: a service has no image (only ``build``) or cannot be converted
======== ================================================================================

Lint warnings (``MSX-L…``) leave a blueprint valid:

======== ================================================================================
L001     image uses ``:latest`` or no tag (not reproducible)
L002     secret-looking literal value in ``env`` (use ``secrets``)
L003     a dependency is listed twice
L004     a probe uses a port the service does not declare
L005     routing fields that only apply to overlays are set on a non-overlay blueprint
L006     a removed service carries other fields, which are ignored
L101     Compose import: a key cannot be mapped and was ignored
L102     Compose import: a host port binding does not apply on Kubernetes
L103     Compose import: a bind mount or tmpfs became an empty directory
L104     Compose import: a value was changed to fit (renamed service, converted unit, ...)
======== ================================================================================
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

Severity = Literal["error", "warning"]

CODES: dict[str, str] = {
    "MSX-E001": "YAML syntax error",
    "MSX-E002": "document too large or too complex",
    "MSX-E003": "more than one YAML document",
    "MSX-E004": "top level is not a mapping",
    "MSX-E005": "required field missing",
    "MSX-E006": "unknown field",
    "MSX-E007": "wrong type",
    "MSX-E008": "invalid value",
    "MSX-E009": "duplicate key",
    "MSX-E010": "no services",
    "MSX-E011": "duplicate service name",
    "MSX-E012": "invalid name",
    "MSX-E013": "image missing",
    "MSX-E014": "invalid image reference",
    "MSX-E015": "invalid port",
    "MSX-E016": "duplicate port",
    "MSX-E017": "invalid quantity",
    "MSX-E018": "unknown service reference",
    "MSX-E019": "dependency cycle",
    "MSX-E020": "routing rule broken",
    "MSX-E021": "invalid header name",
    "MSX-E022": "plan overrides an unknown service",
    "MSX-E023": "unknown plan",
    "MSX-E024": "exposed service without ports",
    "MSX-E025": "invalid duration",
    "MSX-E026": "conflicting options",
    "MSX-E027": "limit below request",
    "MSX-E028": "duplicate entry",
    "MSX-E029": "unsupported YAML feature",
    "MSX-E030": "internal validator error",
    "MSX-E031": "unsupported option",
    "MSX-E101": "compose file has no services",
    "MSX-E102": "compose service cannot be converted",
    "MSX-L001": "mutable image tag",
    "MSX-L002": "secret-looking literal in env",
    "MSX-L003": "dependency listed twice",
    "MSX-L004": "probe port not declared",
    "MSX-L005": "overlay-only routing field ignored",
    "MSX-L006": "fields of a removed service ignored",
    "MSX-L101": "compose key not supported",
    "MSX-L102": "host port binding not applicable",
    "MSX-L103": "bind mount replaced by an empty directory",
    "MSX-L104": "compose value adjusted",
}


def severity_of(code: str) -> Severity:
    """``error`` for ``MSX-E…`` codes, ``warning`` for ``MSX-L…`` lint codes."""
    return "warning" if code.startswith("MSX-L") else "error"


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding about a blueprint: where it is, how bad it is and what to do about it.

    ``path`` follows the style the author wrote (``services[2].ports[0]`` for a list of services,
    ``services.api.image`` for a map keyed by name); ``line`` and ``column`` are 1-based and point
    at the offending node, or at its parent's key when the node is missing. Either may be ``None``
    when the problem is not tied to one place (e.g. an unknown plan chosen on the command line).
    """

    code: str
    severity: Severity
    path: str
    line: int | None
    column: int | None
    message: str

    @classmethod
    def make(
        cls,
        code: str,
        message: str,
        *,
        path: str = "",
        position: tuple[int, int] | None = None,
    ) -> Problem:
        """Build a problem whose severity follows from its code."""
        line, column = position if position is not None else (None, None)
        return cls(code, severity_of(code), path, line, column, message)

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def sort_key(self) -> tuple[int, int, str, str]:
        """Order by line, then column; problems without a position come first."""
        return (self.line or 0, self.column or 0, self.code, self.path)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def format(self, filename: str = "<blueprint>") -> str:
        """``file:line:col: CODE message [path]``, the shape compilers and editors understand."""
        where = filename if self.line is None else f"{filename}:{self.line}:{self.column}"
        suffix = f" [{self.path}]" if self.path else ""
        return f"{where}: {self.code} {self.message}{suffix}"


def sort_problems(problems: list[Problem]) -> list[Problem]:
    """Problems in reading order, without exact duplicates."""
    unique = list(dict.fromkeys(problems))
    return sorted(unique, key=Problem.sort_key)
