"""The cells of the proxy and storage sections' tables (bench_proxy.py, bench_storage.py): a
number with thousands separators, microseconds, a ratio, a percentage; "–" where a figure is
missing (a FAILED run, a peer not installed).  Standard library only.

bench_report.py formats its own sections' cells: its num() leaves out the separators when it
shows decimals, and its tables are already published that way."""


def num(v, decimals):
    if v in ("", None):
        return "–"
    return "{:,.{d}f}".format(float(v), d=decimals)


def us(v):
    if v in ("", None):
        return "–"
    v = float(v)
    return "%.1f" % v if v < 100 else "{:,.0f}".format(v)


def ratio(a, b):
    return "–" if a in (None, 0) or b in (None, 0) else "%.2f" % (a / b)


def pct(v, decimals=0):
    return "–" if v in ("", None) else "%.*f%%" % (decimals, 100 * float(v))
