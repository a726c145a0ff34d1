"""The table every benchmark here ends with: medians of interleaved rounds, as ratios to a reference."""
import statistics


def print_ratios(title, times, reference, unit):
    """``times``: name -> list of seconds; ``reference``: the name the ratios divide by."""
    base = statistics.median(times[reference])
    width = max(len(name) for name in times) + 2
    print(f"\n{title}")
    print(f"{'':<{width}}{unit:>9}{'ratio to ' + reference:>{len(reference) + 12}}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<{width}}{median:>9.3f}{median / base:>{len(reference) + 12}.2f}")
