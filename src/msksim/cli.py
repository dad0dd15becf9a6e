"""`msksim`: run the city's MSK system under a payment rule and read the results.

Every config problem is reported in one line naming the setting, the value and what is
allowed, with exit code 2 and no traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .config import CONTRACT_RULES, ConfigError, check_rule_available, config_schema, load_config
from .io import write_json, write_parquet, write_run
from .results import fmt_number, format_table, side_by_side, theatre_table

EXIT_CONFIG = 2


def _add_run_options(p: argparse.ArgumentParser, contract: bool) -> None:
    p.add_argument("--config", metavar="FILE",
                   help="city config (YAML); default: the built-in Sheffield city")
    p.add_argument("--overlay", metavar="FILE", action="append", default=[],
                   help="a scenario: small YAML overriding the config (repeatable)")
    if contract:
        p.add_argument("--contract", choices=CONTRACT_RULES,
                       help="payment rule: pbr = Payment by Results (activity tariff), cobic = "
                            "capitated outcome-based incentivised contract with a prime "
                            "contractor, block = a fixed annual sum per provider, blended = "
                            "fixed + variable at tariff + outcome payment (default: the "
                            "config's contract.rule)")
    p.add_argument("--years", type=int, metavar="N",
                   help="contract years to simulate after the warm-up (default from config: 5)")
    p.add_argument("--seed", type=int, metavar="S", help="random seed (default from config)")
    p.add_argument("--scale", type=float, metavar="F",
                   help="fraction of the population to simulate, e.g. 0.1 for a quick look")
    p.add_argument("--warmup-weeks", type=int, metavar="W",
                   help="weeks simulated first and left out of the results (default 52)")
    p.add_argument("--out", metavar="DIR", help="folder for weekly.parquet, ledger.parquet, "
                   "meta.json")
    p.add_argument("--quiet", action="store_true", help="no progress bar or table")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="msksim",
        description="Simulate a city's elective musculoskeletal (MSK) care — GP practices, "
                    "community MSK, hub, outpatients and theatres — under a payment rule, and "
                    "see what the rule does to referrals, waits, theatre use, costs and "
                    "patient outcomes.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="simulate one payment rule and write the results",
                         description="Simulate the warm-up and the contract years under one "
                                     "payment rule; write weekly.parquet, ledger.parquet "
                                     "and meta.json.")
    _add_run_options(run, contract=True)
    cmp_ = sub.add_parser("compare", help="run every payment rule with the same seed and "
                          "print them side by side",
                          description="Run the city under each payment rule (Payment by "
                                      "Results, COBIC, block, blended) with the same seed (the "
                                      "same people fall ill in the same weeks) and print the "
                                      "headline figures side by side.")
    _add_run_options(cmp_, contract=False)
    cmp_.add_argument("--contracts", metavar="RULES", default=",".join(CONTRACT_RULES),
                      help=f"comma-separated payment rules to compare (default: all the "
                           f"config offers of {','.join(CONTRACT_RULES)})")
    exp = sub.add_parser("explain", help="split the difference between two payment rules by "
                         "mechanism (triage, follow-ups, listing, decision support, theatre "
                         "capacity, the money itself)",
                         description="Run the city with each mechanism seeing one payment rule "
                                     "or the other (same seed) and split every headline "
                                     "figure's difference between the rules among the "
                                     "mechanisms (Shapley values: they add up to the total).")
    _add_run_options(exp, contract=False)
    exp.add_argument("--base", default="pbr", choices=CONTRACT_RULES,
                     help="the rule to explain from (default pbr)")
    exp.add_argument("--other", default="cobic", choices=CONTRACT_RULES,
                     help="the rule to explain to (default cobic)")
    exp.add_argument("--mechanisms", metavar="LIST",
                     help="comma-separated mechanisms (default all: triage,follow_up,listing,"
                          "decision_support,capacity,payment)")
    exp.add_argument("--method", default="shapley", choices=("shapley", "sequential"),
                     help="shapley (2^M runs, order-free) or sequential (M+1 runs, in the "
                          "order given)")
    exp.add_argument("--measure", action="append", default=[], metavar="TEXT",
                     help="show figures whose name contains TEXT (repeatable; default: "
                          "operations, follow-ups per first, spend)")
    from .experiment import add_parser as add_experiment_parser

    add_experiment_parser(sub)
    from .capacity import add_parser as add_capacity_parser

    add_capacity_parser(sub)
    from .sensitivity import add_parser as add_sensitivity_parser

    add_sensitivity_parser(sub)
    from .report import add_parser as add_report_parser

    add_report_parser(sub)
    from .calibrate import add_parser as add_calibrate_parser

    add_calibrate_parser(sub)
    viz = sub.add_parser(
        "viz", help="start the workshop app (a web page) for exploring the contract together",
        description="Serve the Solara workshop app on this machine; open the printed address in "
                    "a browser. Each browser tab gets its own simulation. Works offline.")
    viz.add_argument("--host", default="127.0.0.1",
                     help="address to listen on (0.0.0.0 lets others on the network join)")
    viz.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    chk = sub.add_parser("check", help="validate a config and say what is wrong with it")
    chk.add_argument("--config", metavar="FILE")
    chk.add_argument("--overlay", metavar="FILE", action="append", default=[])
    sch = sub.add_parser("schema", help="print (or write) the JSON Schema of city configs")
    sch.add_argument("--out", metavar="FILE")
    prm = sub.add_parser("params", help="write the parameter reference (every setting of the "
                         "default city with its unit, value, range and source)",
                         description="Write the parameter reference as Markdown: every setting "
                                     "of the default city with its type, unit, value, allowed "
                                     "range and source (assumption, calibrated or cited).")
    prm.add_argument("--out", metavar="FILE",
                     help="write it to FILE (e.g. docs/parameters.md) instead of printing it")
    return parser


def _load(args: argparse.Namespace):
    run_overrides = {k: v for k, v in (("years", getattr(args, "years", None)),
                                        ("seed", getattr(args, "seed", None)),
                                        ("scale", getattr(args, "scale", None)),
                                        ("warmup_weeks", getattr(args, "warmup_weeks", None)))
                     if v is not None}
    overlays: list = list(args.overlay)
    if run_overrides:
        overlays.append({"run": run_overrides})
    return _checked(load_config(args.config, overlays=overlays))


def _checked(cfg):
    """Also check the pathway graph, whose problems are config errors too."""
    from .pathway import build_pathway

    build_pathway(cfg)
    return cfg


class _Progress:
    """A progress bar on a terminal (weeks simulated, time left); silent otherwise."""

    def __init__(self, label: str, enabled: bool):
        self.label, self.enabled, self.bar = label, enabled and sys.stderr.isatty(), None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=self.label, unit="week", leave=False)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _run_one(cfg, contract: str, out: Path | None, quiet: bool):
    from .run import run_once

    progress = _Progress(f"{cfg.name} under {contract}", not quiet)
    t0 = time.perf_counter()
    try:
        result = run_once(cfg, contract, progress=progress)
    finally:
        progress.close()
    result.meta["wall_seconds"] = round(time.perf_counter() - t0, 2)
    if out is not None:
        write_run(out, result.weekly, result.ledger, result.meta)
    return result


def _check_out(out: str | None) -> Path | None:
    """Refuse an --out that cannot be a folder before spending time on a run."""
    if out is None:
        return None
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"--out: {out!r} is a file; give a folder for the results")
    return path


def cmd_run(args: argparse.Namespace) -> int:
    cfg = _load(args)
    _check_out(args.out)
    contract = args.contract or cfg.contract.rule
    check_rule_available(cfg, contract)
    out = Path(args.out) if args.out else None
    result = _run_one(cfg, contract, out, args.quiet)
    if not args.quiet:
        print(f"{cfg.name}: {cfg.run.years} contract years under {contract} "
              f"(seed {cfg.run.seed}, scale {cfg.run.scale}), {result.meta['wall_seconds']} s")
        print(format_table(result.summary().rename(columns={"value": contract})))
        theatres = theatre_table(result.weekly, result.meta)
        if len(theatres):
            print("\nTheatres (a year; lists at the end)")
            print(theatres.to_string(index=False, formatters={
                c: fmt_number for c in theatres.columns if c not in ("theatre", "provider")}))
        if out is not None:
            print(f"\nResults written to {out}/ (weekly.parquet, ledger.parquet, meta.json)")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    cfg = _load(args)
    _check_out(args.out)
    asked = [c.strip() for c in args.contracts.split(",") if c.strip()]
    for c in asked:
        if c not in CONTRACT_RULES:
            raise ConfigError(f"--contracts: {c!r} is not a payment rule; allowed: "
                              f"{list(CONTRACT_RULES)}")
    default = args.contracts == ",".join(CONTRACT_RULES)
    contracts = []
    for c in asked:
        try:
            check_rule_available(cfg, c)
            contracts.append(c)
        except ConfigError:
            if not default:  # asked for by name: say why it cannot run
                raise
    out = Path(args.out) if args.out else None
    summaries = {}
    for contract in contracts:
        result = _run_one(cfg, contract, out / contract if out else None, args.quiet)
        summaries[contract] = result.summary()
    table = side_by_side(summaries)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        write_json({"columns": list(table.columns), "rows": table.values.tolist()},
                   out / "comparison.json")
    if not args.quiet:
        print(f"{cfg.name}: {cfg.run.years} contract years, same seed ({cfg.run.seed}), "
              f"scale {cfg.run.scale}; pbr = Payment by Results, cobic = capitated "
              f"outcome-based contract, block = fixed annual sums, blended = fixed + tariff + "
              f"outcome payment")
        print(format_table(table))
        if out is not None:
            print(f"\nResults written to {out}/ ({', '.join(contracts)})")
    return 0


DEFAULT_EXPLAINED = ["all operations", "low-value", "follow-ups per first", "Commissioner spend"]


def cmd_explain(args: argparse.Namespace) -> int:
    from .explain import MECHANISMS, explain, format_explanation

    cfg = _load(args)
    _check_out(args.out)
    mechanisms = (tuple(m.strip() for m in args.mechanisms.split(",") if m.strip())
                  if args.mechanisms else MECHANISMS)
    progress = _Progress(f"{cfg.name}: {args.base} → {args.other}", not args.quiet)
    try:
        table = explain(cfg, args.base, args.other, mechanisms, args.method,
                        progress=lambda d, t: progress(d, t))
    finally:
        progress.close()
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        write_parquet(table, out / "explanation.parquet")
        write_json(table.attrs, out / "explanation_meta.json")
    if not args.quiet:
        print(format_explanation(table, args.measure or DEFAULT_EXPLAINED))
        if args.out:
            print(f"\nEvery figure's decomposition written to {args.out}/explanation.parquet")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    cfg = _checked(load_config(args.config, overlays=list(args.overlay)))
    print(f"{cfg.name}: config is valid ({len(cfg.services)} services, "
          f"{len(cfg.conditions)} conditions, {len(cfg.providers)} providers)")
    return 0


def cmd_viz(args: argparse.Namespace) -> int:
    import runpy

    serve = Path(__file__).resolve().parents[2] / "viz" / "serve.py"
    if not serve.is_file():
        raise ConfigError(f"viz: the app is not installed next to msksim ({serve} is missing); "
                          f"run from a checkout of the repository")
    runpy.run_path(str(serve))["serve"](args.host, args.port)
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    text = json.dumps(config_schema(), indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n")
    else:
        print(text)
    return 0


def cmd_params(args: argparse.Namespace) -> int:
    from .parameters import parameter_reference, write_parameter_reference

    if args.out:
        write_parameter_reference(args.out)
    else:
        sys.stdout.write(parameter_reference())
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .calibrate import cmd_calibrate
    from .capacity import cmd_capacity
    from .experiment import cmd_experiment
    from .report import cmd_report
    from .sensitivity import cmd_sensitivity

    handlers = {"run": cmd_run, "compare": cmd_compare, "explain": cmd_explain,
                "experiment": cmd_experiment, "capacity": cmd_capacity,
                "sensitivity": cmd_sensitivity, "check": cmd_check,
                "schema": cmd_schema, "params": cmd_params, "report": cmd_report,
                "viz": cmd_viz, "calibrate": cmd_calibrate}
    try:
        return handlers[args.command](args)
    except ConfigError as exc:
        print(f"msksim: config error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except OSError as exc:  # e.g. --out names a file, or the disk is full
        print(f"msksim: cannot write results: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("msksim: interrupted; results written so far are complete files", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
