"""What Ground Truth charges, in dollars.

Every labeled object, human or machine, pays the per-object fee; a public-workforce human object
also pays ``workers x task price``. A private or vendor workforce adds nothing per task. Failed
objects are not charged. Volume tiers are not confirmed, so the fee is always a parameter
(``ground-truth-facts.md``, section 5).

>>> prices = Pricing(object_fee=0.08, workers=5, task_price=0.036)
>>> round(prices.human_object_cost, 4)
0.26
>>> round(prices.cost(human_objects=608, machine_objects=392), 2)
189.44

The service writes a price as ``AmountInUsd`` (whole dollars, cents and tenths of a cent);
:func:`usd_amount` and :func:`dollars` are the one conversion between that and dollars:

>>> usd_amount(Decimal("0.036"))
{'Dollars': 0, 'Cents': 3, 'TenthFractionsOfACent': 6}
>>> dollars({'Dollars': 1, 'Cents': 20, 'TenthFractionsOfACent': 0})
Decimal('1.200')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from gtkit._errors import GtkitError

__all__ = [
    "DEFAULT_OBJECT_FEE",
    "PRICE_STEP",
    "CostEstimate",
    "Pricing",
    "check_object_count",
    "dollars",
    "estimate_cost",
    "usd_amount",
    "validation_fraction",
]

#: Dollars per labeled object, as in AWS's notebooks; keep it a parameter.
DEFAULT_OBJECT_FEE = 0.08
#: The smallest step of a task price: a tenth of a cent, in dollars.
PRICE_STEP = Decimal("0.001")


def usd_amount(price: Decimal) -> dict[str, int]:
    """A price in dollars as the service's ``AmountInUsd`` (rounded to a tenth of a cent)."""
    tenths = int((price / PRICE_STEP).to_integral_value())
    return {
        "Dollars": tenths // 1000,
        "Cents": (tenths // 10) % 100,
        "TenthFractionsOfACent": tenths % 10,
    }


def dollars(amount: Mapping[str, int]) -> Decimal:
    """The dollars an ``AmountInUsd`` stands for, exact to a tenth of a cent."""
    return (
        Decimal(amount.get("Dollars", 0))
        + Decimal(amount.get("Cents", 0)) / 100
        + Decimal(amount.get("TenthFractionsOfACent", 0)) / 1000
    ).quantize(PRICE_STEP)


def check_object_count(objects: int, *, argument: str = "objects") -> int:
    """Return ``objects`` if it is a whole number of at least 1, else raise GtkitError naming
    ``argument`` (a job of no objects costs nothing and the service refuses it)."""
    if isinstance(objects, bool) or not isinstance(objects, int) or objects < 1:
        raise GtkitError(f"{argument}={objects!r}: give a whole number of objects, at least 1")
    return objects


@dataclass(frozen=True)
class Pricing:
    """The three numbers that set a job's cost.

    ``object_fee`` and ``task_price`` are dollars; ``task_price`` is per task per worker and is 0
    for private and vendor workforces.
    """

    object_fee: float = DEFAULT_OBJECT_FEE
    workers: int = 1
    task_price: float = 0.0

    @property
    def human_object_cost(self) -> float:
        """Dollars for one human-labeled object: the fee plus every worker's task price."""
        return self.object_fee + self.workers * self.task_price

    @property
    def machine_object_cost(self) -> float:
        """Dollars for one machine-labeled object: the fee alone."""
        return self.object_fee

    def cost(self, *, human_objects: int, machine_objects: int = 0) -> float:
        """Dollars for that many human and machine labels (failed objects are not charged)."""
        return human_objects * self.human_object_cost + machine_objects * self.machine_object_cost


def validation_fraction(objects: int) -> float:
    """Fraction of a job's objects automated labeling holds out for validation (20% or 10%)."""
    return 0.2 if objects < 5000 else 0.1


@dataclass(frozen=True)
class CostEstimate:
    """A pre-flight estimate in dollars for ``objects`` objects.

    ``low`` assumes the best automated-labeling case (humans label a validation set and a training
    set of the same size, machines label the rest); ``high`` is every object labeled by humans,
    which is also the cost without automated labeling.
    """

    objects: int
    pricing: Pricing
    auto_labeling: bool
    low: float
    high: float

    @property
    def without_auto_labeling(self) -> float:
        """Dollars if humans label every object."""
        return self.high

    def as_dict(self) -> dict[str, float | int | bool]:
        """The estimate as plain JSON-ready values (dollars, counts)."""
        return {
            "objects": self.objects,
            "object_fee": self.pricing.object_fee,
            "workers": self.pricing.workers,
            "task_price": self.pricing.task_price,
            "human_object_cost": self.pricing.human_object_cost,
            "auto_labeling": self.auto_labeling,
            "low": self.low,
            "high": self.high,
            "without_auto_labeling": self.without_auto_labeling,
        }


def estimate_cost(objects: int, pricing: Pricing, *, auto_labeling: bool) -> CostEstimate:
    """Estimate a job's cost range in dollars before it runs.

    >>> e = estimate_cost(1000, Pricing(0.08, 5, 0.036), auto_labeling=True)
    >>> round(e.low, 2), round(e.high, 2)
    (152.0, 260.0)

    ``objects`` must be at least 1 (GtkitError otherwise).
    """
    check_object_count(objects)
    high = pricing.cost(human_objects=objects)
    if not auto_labeling:
        return CostEstimate(objects, pricing, auto_labeling, high, high)
    human = min(objects, round(2 * validation_fraction(objects) * objects))
    low = pricing.cost(human_objects=human, machine_objects=objects - human)
    return CostEstimate(objects, pricing, auto_labeling, low, high)
