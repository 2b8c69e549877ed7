"""Cost estimates: requested resources × the price table — pure functions, no ORM, no network.

While an environment runs, its CPU and memory requests are charged by the hour; its volume claims are
charged for as long as they exist, stopped or not. So an environment's estimated cost is

    running hours × (vCPU × CPU-hour price + GiB × GiB-hour price)
    + (running + stopped hours) × claimed GiB × storage GiB-month price / 730

where a month is 730 hours (365 × 24 / 12), the convention of cloud price lists. Requests are what
the scheduler reserves, so they are what a shared cluster really spends on the environment; a request
left unset falls back to the limit, as Kubernetes defaults it. ``emptyDir`` volumes are node scratch
space and cost nothing here.

>>> prices = PriceTable(cpu_hour=Decimal("0.04"), gib_hour=Decimal("0.005"), storage_gib_month=Decimal("0.10"))
>>> rate = hourly_rate(Footprint(cpu_millicores=500, memory_mib=1024, storage_mib=0), prices)
>>> rate.running
Decimal('0.025')
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from blueprints.quantities import memory_bytes
from environments.planner.saving import footprint as compute_footprint

HOURS_PER_MONTH = Decimal(730)
MIB = 1024 * 1024
_MIB_PER_GIB = Decimal(1024)
_MILLICORES = Decimal(1000)
_SECONDS_PER_HOUR = Decimal(3600)
# Money is shown to four decimal places: small environments cost fractions of a cent an hour.
PLACES = Decimal("0.0001")


@dataclass(frozen=True)
class PriceTable:
    """Prices per vCPU-hour, per GiB-hour of memory, per GiB-month of volume claims, in ``currency``."""

    cpu_hour: Decimal
    gib_hour: Decimal
    storage_gib_month: Decimal
    currency: str = "USD"

    @classmethod
    def from_settings(cls) -> PriceTable:
        from django.conf import settings

        return cls(
            cpu_hour=settings.MICROSTAX_PRICE_CPU_HOUR,
            gib_hour=settings.MICROSTAX_PRICE_GIB_HOUR,
            storage_gib_month=settings.MICROSTAX_PRICE_STORAGE_GIB_MONTH,
            currency=settings.MICROSTAX_CURRENCY,
        )


@dataclass(frozen=True)
class Footprint:
    """What an environment (or one service) requests: CPU millicores, memory MiB, claimed MiB."""

    cpu_millicores: float
    memory_mib: float
    storage_mib: float

    def __add__(self, other: Footprint) -> Footprint:
        return Footprint(
            self.cpu_millicores + other.cpu_millicores,
            self.memory_mib + other.memory_mib,
            self.storage_mib + other.storage_mib,
        )


@dataclass(frozen=True)
class Rate:
    """Hourly rates: ``running`` (compute and storage) and ``stopped`` (storage only)."""

    compute: Decimal
    storage: Decimal

    @property
    def running(self) -> Decimal:
        return self.compute + self.storage

    @property
    def stopped(self) -> Decimal:
        return self.storage

    @property
    def monthly(self) -> Decimal:
        """Running around the clock for a month."""
        return self.running * HOURS_PER_MONTH


def _decimal(value: float | int) -> Decimal:
    return Decimal(str(value))


def money(amount: Decimal) -> Decimal:
    return amount.quantize(PLACES)


def storage_mib(services: Iterable[Mapping[str, Any]]) -> int:
    """MiB claimed by the services' ``pvc`` volumes (one claim per volume, whatever the replicas; removed
    services left out)."""
    total = 0
    for service in services:
        if service.get("removed"):
            continue
        for volume in service.get("volumes") or []:
            if volume.get("type", "pvc") == "pvc" and isinstance(volume.get("size"), str):
                try:
                    total += memory_bytes(volume["size"])
                except ValueError:
                    continue
    return total // MIB


def spec_footprint(services: Iterable[Mapping[str, Any]]) -> Footprint:
    """The footprint of normalized services (removed ones left out)."""
    kept = [s for s in services if not s.get("removed")]
    compute = compute_footprint(kept)
    return Footprint(compute["cpu_millicores"], compute["memory_mib"], storage_mib(kept))


def hourly_rate(footprint: Footprint, prices: PriceTable) -> Rate:
    compute = (
        _decimal(footprint.cpu_millicores) / _MILLICORES * prices.cpu_hour
        + _decimal(footprint.memory_mib) / _MIB_PER_GIB * prices.gib_hour
    )
    storage = _decimal(footprint.storage_mib) / _MIB_PER_GIB * prices.storage_gib_month / HOURS_PER_MONTH
    return Rate(compute=compute, storage=storage)


def estimated_cost(
    footprint: Footprint, *, running_seconds: float, stopped_seconds: float, prices: PriceTable
) -> Decimal:
    """Running time pays compute and storage, stopped time storage only."""
    rate = hourly_rate(footprint, prices)
    running_hours = _decimal(running_seconds) / _SECONDS_PER_HOUR
    stopped_hours = _decimal(stopped_seconds) / _SECONDS_PER_HOUR
    return rate.compute * running_hours + rate.storage * (running_hours + stopped_hours)


@dataclass(frozen=True)
class SpecEstimate:
    """The rates of a blueprint before it exists, service by service and in total."""

    services: list[tuple[str, Footprint, Rate]]
    total: Footprint
    rate: Rate


def estimate_spec(spec: Mapping[str, Any], prices: PriceTable) -> SpecEstimate:
    rows = []
    total = Footprint(0, 0, 0)
    for service in spec.get("services") or []:
        if service.get("removed"):
            continue
        fp = spec_footprint([service])
        rows.append((service["name"], fp, hourly_rate(fp, prices)))
        total = total + fp
    return SpecEstimate(services=rows, total=total, rate=hourly_rate(total, prices))


@dataclass(frozen=True)
class OverlaySaving:
    """An overlay's hourly rate against a full clone of its effective spec."""

    full_clone: Rate
    overlay: Rate

    @property
    def ratio(self) -> float:
        """Share of a full clone's running rate the overlay does not spend (0.0 to 1.0)."""
        full = self.full_clone.running
        if not full:
            return 0.0
        return float(round(max(Decimal(0), full - self.overlay.running) / full, 4))


def overlay_saving(difference_plan: Mapping[str, Any], prices: PriceTable) -> OverlaySaving:
    """Full clone = every service of the plan's effective spec; overlay = only its local services."""
    services = (difference_plan.get("effective_spec") or {}).get("services") or []
    local = set(difference_plan.get("local") or [])
    full = spec_footprint(services)
    own = spec_footprint([s for s in services if s.get("name") in local])
    return OverlaySaving(full_clone=hourly_rate(full, prices), overlay=hourly_rate(own, prices))


@dataclass(frozen=True)
class TeamTotals:
    """Resource-time a team's environments used, summed by the database; priced here."""

    cpu_millicore_seconds: float
    memory_mib_seconds: float
    storage_mib_seconds: float

    def cost(self, prices: PriceTable) -> Decimal:
        return (
            _decimal(self.cpu_millicore_seconds) / _MILLICORES / _SECONDS_PER_HOUR * prices.cpu_hour
            + _decimal(self.memory_mib_seconds) / _MIB_PER_GIB / _SECONDS_PER_HOUR * prices.gib_hour
            + _decimal(self.storage_mib_seconds)
            / _MIB_PER_GIB
            / _SECONDS_PER_HOUR
            / HOURS_PER_MONTH
            * prices.storage_gib_month
        )
