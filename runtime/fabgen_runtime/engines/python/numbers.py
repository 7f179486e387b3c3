"""Java's text for doubles and floats (``Double.toString`` / ``Float.toString`` on Java 17).

Spark's csv and json writers print floating-point values with Java: ``1.0E7``, ``1.5E-4``,
``0.001``, ``NaN``, ``Infinity``, ``-0.0``. :func:`java_double` reproduces that: integral values
below 2^63 take Java 17's exact-integer path (``FloatingDecimal.developLongDigits``, so the
float32 123456792 prints ``1.23456792E8`` and 2^60 ``1.15292150460684698E18``), the smallest
subnormals print Java's two digits (``4.9E-324``, ``1.4E-45``), and every other value uses the
shortest round-trip digits. Java 17's general path is not always shortest (JDK-4511638, fixed in
Java 19): for rare values Spark prints a longer digit string; both read back as the same number.
"""

from __future__ import annotations

import math
import struct
from decimal import Decimal


def _java_format(negative: bool, digits: str, exponent: int) -> str:
    """Java's ``toJavaFormatString`` for ``0.digits x 10^exponent``."""
    digits = digits.rstrip("0") or "0"
    sign = "-" if negative else ""
    if 0 < exponent <= 7:
        whole = (digits + "0" * exponent)[:exponent] if len(digits) < exponent else digits[:exponent]
        fraction = digits[exponent:] or "0"
        return f"{sign}{whole}.{fraction}"
    if -3 < exponent <= 0:
        return f"{sign}0.{'0' * -exponent}{digits}"
    return f"{sign}{digits[0]}.{digits[1:] or '0'}E{exponent - 1}"


# Java 17 FloatingDecimal: digits dropped from exact integers wider than the mantissa.
_INSIGNIFICANT = [
    0,
    0,
    0,
    0,
    1,
    1,
    1,
    2,
    2,
    2,
    3,
    3,
    3,
    3,
    4,
    4,
    4,
    5,
    5,
    5,
    6,
    6,
    6,
    6,
    7,
    7,
    7,
    8,
    8,
    8,
    9,
    9,
    9,
    9,
    10,
    10,
    10,
    11,
    11,
    11,
    12,
    12,
    12,
    12,
    13,
    13,
    13,
    14,
    14,
    14,
    15,
    15,
    15,
    15,
    16,
    16,
    16,
    17,
    17,
    17,
    18,
    18,
    18,
    19,
]


def _long_digits(value: float, significant_bits: int) -> tuple[str, int] | None:
    """Java's exact-integer path (``developLongDigits``) for integral ``1 <= |value| < 2^63``."""
    magnitude = abs(value)
    if magnitude < 1 or magnitude >= 2.0**63 or magnitude != math.floor(magnitude):
        return None
    number = int(magnitude)
    bin_exp = number.bit_length() - 1
    drop = bin_exp - significant_bits - 1
    insignificant = (
        _INSIGNIFICANT[drop] if bin_exp > significant_bits and 1 < drop < len(_INSIGNIFICANT) else 0
    )
    exponent = 0
    if insignificant:
        scale = 10**insignificant
        number, residue = divmod(number, scale)
        exponent += insignificant
        if residue >= scale // 2:
            number += 1
    text = str(number)
    return text, exponent + len(text)


# The smallest subnormals, where Java prints two digits (its well-known non-shortest output).
_JAVA_MINIMUMS = {5e-324: "4.9E-324"}
_JAVA_MINIMUMS_SINGLE = {struct.unpack("f", struct.pack("I", 1))[0]: "1.4E-45"}


def java_double(value: float, single: bool = False) -> str:
    """``Double.toString`` (``Float.toString`` with ``single``) as Java 17 writes it."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if single:
        value = struct.unpack("f", struct.pack("f", value))[0]
    negative = math.copysign(1.0, value) < 0
    minimums = _JAVA_MINIMUMS_SINGLE if single else _JAVA_MINIMUMS
    if abs(value) in minimums:
        return ("-" if negative else "") + minimums[abs(value)]
    if value == 0:
        return "-0.0" if negative else "0.0"
    long_path = _long_digits(value, 24 if single else 53)
    if long_path is not None:
        return _java_format(negative, long_path[0], long_path[1])
    shortest = _shortest_single(value) if single else repr(value)
    _sign, digits, exp = Decimal(shortest).as_tuple()
    text = "".join(map(str, digits))
    return _java_format(negative, text, int(exp) + len(text))


def _shortest_single(value: float) -> str:
    """The shortest decimal text that reads back as the same float32."""
    target = struct.unpack("f", struct.pack("f", value))[0]
    for precision in range(1, 10):
        text = f"{value:.{precision}g}"
        if struct.unpack("f", struct.pack("f", float(text)))[0] == target:
            return text
    return repr(value)
