"""The three-way bench's report: medians over rounds, ratios, paths a server cannot serve."""

from bench.reference import combine, floor_total, three_way_table


def result(rps, p50=10.0, p99=20.0, errors=0, status=200):
    return {"rps": rps, "p50_ms": p50, "p99_ms": p99, "responses": int(rps * 10),
            "errors": errors, "check_status": status}


def row(name, product, floor, drf, own_floor):
    return {"name": name, "product": product, "floor": floor, "drf": drf,
            "own_floor": own_floor}


def test_rounds_combine_to_the_median_of_each_figure_with_errors_added():
    rounds = [[row("list", result(100, p99=50), result(200), result(10), result(150))],
              [row("list", result(400, p99=10), result(200), result(10, errors=2), None)],
              [row("list", result(200, p99=20), result(200), result(10, status=500), None)]]
    [combined] = combine(rounds)
    assert (combined["product"]["rps"], combined["product"]["p99_ms"]) == (200, 20)
    assert combined["drf"]["errors"] == 2
    assert combined["drf"]["check_status"] == 500  # one bad round is not hidden
    assert combined["own_floor"]["rounds"] == 1  # a server missing in a round is left out


def test_table_gives_each_ratio_and_a_dash_where_a_server_has_no_such_path():
    rows = combine([[row("list", result(600, 20.0, 40.5), result(1200, 9.0, 15.0), result(60),
                         result(800)),
                     row("cursor 5000", result(500), result(1000), None, result(500))]])
    lines = three_way_table(rows).splitlines()
    assert lines[2] == ("| list | 600 | 20.0 / 40.5 | 1,200 | 9.0 / 15.0 | 60 | 800 | 0.50 "
                        "| 10.00 | 0.75 |")
    assert lines[3] == ("| cursor 5000 | 500 | 10.0 / 20.0 | 1,000 | 10.0 / 20.0 | — | 500 "
                        "| 0.50 | - | 1.00 |")


def test_a_failed_product_run_gives_no_ratio_and_shows_why():
    rows = combine([[row("q common", result(0.5, status=504, errors=3), result(10), result(5),
                         result(2))]])
    line = three_way_table(rows).splitlines()[2]
    assert line.startswith("| q common | 0.5 (HTTP 504) (3 errors) |")
    assert line.endswith("| - | - | - |")


def test_floor_counts_exactly_up_to_the_products_cap_and_capped_beyond():
    assert floor_total("auto", 10_000) == "1"
    assert floor_total("auto", 200_000) == "capped"
    assert floor_total("exact", 200_000) == "1"
    assert floor_total("capped", 10_000) == "capped"
