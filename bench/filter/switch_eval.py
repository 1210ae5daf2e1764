#!/usr/bin/env python3
"""switch's way of running filters, timed: baseline (b) of bench_filter.

switch stored each subscriber's filter as a Python expression, compiled it once and, per event, ran
eval(code, {"data": data}) with data the decoded JSON (a dict). This script does the same for the
filters and the event bench_filter writes (--filters: one Lua filter per line, translated to Python;
--event: the JSON text), or, without them, for its own copy of bench_filter's 1,000 filters and
300-byte event. Standard library only.

Prints one JSON line: {"ns_per_eval": median ns per eval over the rounds, "loads_ns": ns per
json.loads of the event, "matches": filters that matched, "filters": how many}. Times are the thread's
CPU time (time.thread_time_ns), as bench_filter measures its own.
"""
import argparse
import json
import re
import statistics
import time

EVENT_300 = ('{"body":{"id":4711,"total":120,"currency":"EUR","items":3,"customer":{"id":"c_8812",'
             '"tier":"gold"}},"headers":{"x-tenant":"t7","content-type":"application/json",'
             '"x-request-id":"9f1c2a7e-5b1d"},"query_params":{"v":"2"},"path_params":{"order_id":'
             '"4711"},"http_method":"post","special_key":"special value"}')


def make_filter(i):
    """Filter i of the 1,000, as bench_filter.c's make_filter builds it."""
    lim, tenant, oid = (i * 37) % 250, i % 10, 4700 + i % 20
    return [
        f'data["body"]["total"] > {lim} and data["headers"]["x-tenant"] == "t{tenant}"',
        f'data["body"]["currency"] == "EUR" and data["body"]["total"] >= {lim}',
        f'data["http_method"] == "post" and data["path_params"]["order_id"] == "{oid}"',
        f'data["headers"]["x-tenant"] == "t{tenant}" or data["special_key"] == "special value"',
        f'data["body"]["customer"]["tier"] == "gold" and data["body"]["items"] > {i % 5}',
        f'data["query_params"]["v"] == "2" and data["body"]["total"] < {lim}',
        f'data["body"]["total"] > {lim} and data["body"]["total"] <= {lim + 50}',
        f'data["headers"]["content-type"] == "application/json" and data["body"]["id"] != {oid}',
    ][i % 8]


_TOKEN = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|~=|\b(?:nil|true|false)\b')
_LUA_TO_PY = {"~=": "!=", "nil": "None", "true": "True", "false": "False"}


def to_python(lua_expr):
    """The switch form of a Lua filter: ~= nil true false become != None True False outside strings
    (and/or/not, ==, comparisons and data["k"] indexing are spelled the same in both)."""
    return _TOKEN.sub(lambda m: _LUA_TO_PY.get(m.group(0), m.group(0)), lua_expr)


def run(codes, data):
    """One pass, as a hub would run it: a filter that raises does not match."""
    n = 0
    for code in codes:
        try:
            if eval(code, {"data": data}):
                n += 1
        except Exception:
            pass
    return n


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--event", help="file with the event's JSON data (default: the built-in 300 B event)")
    ap.add_argument("--filters", help="file with one Lua filter per line (default: the built-in 1,000)")
    ap.add_argument("--passes", type=int, default=50, help="passes over all filters per round")
    ap.add_argument("--rounds", type=int, default=5, help="timed rounds (the median is reported)")
    args = ap.parse_args()

    event_text = open(args.event).read() if args.event else EVENT_300
    if args.filters:
        with open(args.filters) as f:
            lua_filters = [line.rstrip("\n") for line in f if line.strip()]
    else:
        lua_filters = [make_filter(i) for i in range(1000)]
    codes = [compile(to_python(src), "<filter>", "eval") for src in lua_filters]

    reps = 20000
    t = time.thread_time_ns()
    for _ in range(reps):
        data = json.loads(event_text)
    loads_ns = (time.thread_time_ns() - t) / reps

    matches = run(codes, data)
    run(codes, data)  # warm up
    per_eval = []
    for _ in range(args.rounds):
        t = time.thread_time_ns()
        for _ in range(args.passes):
            run(codes, data)
        per_eval.append((time.thread_time_ns() - t) / (args.passes * len(codes)))
    print(json.dumps({"ns_per_eval": statistics.median(per_eval), "loads_ns": loads_ns,
                      "matches": matches, "filters": len(codes)}))


if __name__ == "__main__":
    main()
