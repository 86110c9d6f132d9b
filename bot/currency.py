"""Currencies: the ISO 4217 codes a catalog's prices may be in, and how an amount reads."""

from __future__ import annotations

from decimal import Decimal

DEFAULT_CURRENCY = "USD"

# Active ISO 4217 codes for money (no funds, metals or test codes).
_CODES = """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN
    BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD
    FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY
    KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP
    MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR
    RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT
    TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR
    ZMW ZWG ZWL
"""
ISO_4217 = frozenset(_CODES.split())
# Written before the amount, as people in those markets read them; others get the code after.
_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹", "KRW": "₩"}
_NO_DECIMALS = frozenset({"JPY", "KRW", "VND", "CLP", "ISK", "PYG", "UGX", "XAF", "XOF"})


def currency_code(value: str) -> str:
    """`value` as an ISO 4217 code ("eur" -> "EUR"); ValueError when it is none."""
    code = value.strip().upper()
    if code not in ISO_4217:
        raise ValueError(
            f"expected an ISO 4217 currency code such as 'USD' or 'EUR', got {value!r}"
        )
    return code


def format_money(amount: Decimal, currency: str) -> str:
    """'$4.20', '€1,250.00', '¥420', '4.20 CHF'."""
    places = 0 if currency in _NO_DECIMALS else 2
    number = f"{amount:,.{places}f}"
    symbol = _SYMBOLS.get(currency)
    if symbol is None:
        return f"{number} {currency}"
    return f"-{symbol}{number[1:]}" if number.startswith("-") else f"{symbol}{number}"
