"""The workshop app (viz/) without a browser: components rendered with `solara.render`, buttons
clicked through their widgets, and the app's configs and numbers checked against the command
line's. Small runs (2-3% of the city, one contract year) keep it quick."""

from __future__ import annotations

import io
import shlex
import sys
import zipfile
from dataclasses import replace
from pathlib import Path

import ipyvuetify as v
import ipywidgets
import numpy as np
import pandas as pd
import pytest
import solara
import yaml

from msksim.cli import _load, build_parser
from msksim.config import MAX_CONFIG_BYTES, ConfigError, load_config, validate_config
from msksim.model import MSKModel

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # viz/ is a folder beside src/, not an installed package
    sys.path.insert(0, str(ROOT))

from viz import app, charts, sim  # noqa: E402
from viz import settings as st  # noqa: E402

SMALL = st.Levers(scale=0.03, years=1)
EVERY_LEVER = st.Levers(outcome_incentive_pct=8.0, uplift_pct=1.0, theatre_factor=1.4,
                        decision_aid_share=0.5, hub_for_all=True, referral_sd=0.5,
                        money_weight=5e-5, scale=0.03, seed=7, years=1)


def render_app():
    """Render the app as `Page` does, keeping hold of the session's state."""
    held: dict = {}

    @solara.component
    def Harness():
        state = app.use_app_state()
        held["state"] = state
        app.Shell(state)

    _, rc = solara.render(Harness(), handle_error=False)
    return held["state"], rc


def show_tab(rc, name: str) -> None:
    rc.find(v.Tabs).widget.v_model = app.TABS.index(name)


def button(rc, label: str) -> v.Btn:
    """The one button showing `label` (some buttons have an icon before it)."""
    found = [b for b in rc.find(v.Btn).widgets if label in b.children]
    assert len(found) == 1, f"{len(found)} buttons labelled {label!r}"
    return found[0]


def click(rc, label: str) -> None:
    button(rc, label).click()


def week_counter(rc) -> str:
    return rc.find(v.Html, class_="week-counter").widget.children[0]


def alert_texts(rc, kind: str = "error") -> list[str]:
    return [" ".join(str(c) for c in a.children) for a in rc.find(v.Alert, type=kind).widgets]


def small_start(state, rc, levers: st.Levers = SMALL) -> None:
    """Small run settings, then Reset on 'Watch it run'."""
    state.levers.set(levers)
    show_tab(rc, "Watch it run")
    click(rc, "Reset")


# ----------------------------------------------------------------------------------------------
# every tab renders
# ----------------------------------------------------------------------------------------------
def test_every_tab_renders_for_sheffield():
    state, rc = render_app()
    assert state.live.value is not None  # the first model is built when the page opens
    # Set up: the labels a browser test relies on
    rc.find(v.Tab, children=["Set up"]).assert_single()
    city = rc.find(v.Select, label="City").widget
    assert [i["value"] for i in city.items] == ["Sheffield", "Bedford", "Oldham"]
    assert city.v_model == "Sheffield"
    rule = rc.find(v.Select, label="Payment rule").widget
    assert [i["value"] for i in rule.items] == ["pbr", "cobic", "block", "blended"]
    for label in ("Outcome incentive (% of contract)", "Capitation uplift (% a year)",
                  "Theatre sessions (× today's plan)",
                  "Decision-aid uptake (share of surgical decisions)",
                  "GP referral variation (spread between practices)",
                  "Money weight in provider decisions", "Share of the city simulated"):
        rc.find(v.Slider, label=label).assert_single()
    rc.find(v.Checkbox, label="Hub triage for every GP referral").assert_single()
    rc.find(v.TextField, label="Seed").assert_single()
    assert rc.find(v.Slider, label="Share of the city simulated").widget.v_model == 0.1
    money = rc.find(v.Slider, label="Money weight in provider decisions").widget
    assert money.tick_labels[money.v_model] == "£50k"  # Sheffield: £50,000 per QALY
    money.v_model = money.tick_labels.index("£10k")
    assert state.levers.value.money_weight == 1e-4
    click(rc, "Back to Sheffield's own settings")
    assert state.levers.value == st.Levers() and money.tick_labels[money.v_model] == "£50k"
    assert not alert_texts(rc)
    for name, rule in (("Bedford", "cobic"), ("Oldham", "blended"), ("Sheffield", "pbr")):
        city.v_model = name  # each city brings its own payment rule and levers
        assert (state.city.value, state.rule.value) == (name, rule)
        assert rc.find(v.Select, label="Payment rule").widget.v_model == rule
        assert not alert_texts(rc)
    click(rc, "Start this set-up")
    assert state.tab.value == app.TABS.index("Watch it run") and week_counter(rc) == "Week 0"
    small_start(state, rc)
    for label in ("Step a week", "Run a year", "Reset"):
        button(rc, label)
    assert week_counter(rc) == "Week 0"
    click(rc, "Step a week")
    for test_id in charts.LIVE_CHARTS:
        card = rc.find(v.Html, class_=f"chart-card {test_id}")
        card.assert_single()
        png = card.find(ipywidgets.Image).widget.value
        assert png[:4] == b"\x89PNG"
    show_tab(rc, "Compare")
    rc.find(v.Select, label="Rule A").assert_single()
    rc.find(v.Select, label="Rule B").assert_single()
    assert rc.find(v.Slider, label="Replications (paired runs of each rule)").widget.max == 5
    button(rc, "Compare")
    show_tab(rc, "The system")
    rc.find(v.Html, class_="chart-card chart-pathway").assert_single()
    rc.find(v.Html, class_="chart-card chart-money").assert_single()
    show_tab(rc, "Take it away")
    for label in ("Download results (CSV)", "Download charts (PNG)", "Download config (YAML)"):
        button(rc, label)
    show_tab(rc, "Set up")
    assert not alert_texts(rc)


def test_compare_runs_paired_and_renders():
    choices = sim.Choices("Sheffield", "pbr", st.Levers(scale=0.02, years=1, seed=3))
    done: list[float] = []
    comp = sim.run_comparison(choices, "pbr", "cobic", 2, progress=done.append)
    assert comp.seeds == [3, 4] and done[-1] == pytest.approx(100.0)
    assert set(comp.runs["scenario"]) == {"pbr", "cobic"}
    # paired: each replication's two runs share a seed, and the interval needs two pairs
    d = comp.differences
    spend = d[(d["measure"] == "Commissioner spend") & (d["unit"] == "£m a year")].iloc[0]
    assert spend["n"] == 2 and spend["ci_low"] <= spend["mean_diff"] <= spend["ci_high"]
    sentence = charts.difference_sentence(comp, "commissioner_spend_gbp")
    assert sentence.startswith("Under COBIC") and "over 2 paired runs" in sentence
    table = charts.comparison_table(comp, key_only=True)
    assert list(table.columns[3:6]) == ["PbR", "COBIC", "COBIC − PbR"]
    _, rc = solara.render(app.CompareResults(comp), handle_error=False)
    for key in charts.COMPARE_SERIES:
        rc.find(v.Html, class_=f"chart-card chart-compare-{key}").assert_single()
    assert "over 2 paired runs" in rc.find(v.Html, class_="chart-caption").widgets[0].children[0]


# ----------------------------------------------------------------------------------------------
# uploads
# ----------------------------------------------------------------------------------------------
def _upload(state, name: str, data: bytes, size: int | None = None) -> None:
    app.handle_upload(state, {"name": name, "size": len(data) if size is None else size,
                              "file_obj": io.BytesIO(data), "data": None})


@pytest.mark.parametrize("bad", [
    "services: 5\n",
    "wrong type",  # the whole Sheffield config with one setting of the wrong type
])
def test_bad_upload_shows_the_cli_message(bad, tmp_path):
    text = bad
    if bad == "wrong type":
        data = yaml.safe_load((ROOT / "configs" / "sheffield.yaml").read_text())
        data["population"]["registered_adults"] = "lots"
        text = yaml.safe_dump(data)
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as cli:
        load_config(path)
    state, rc = render_app()
    _upload(state, "bad.yaml", text.encode())
    shown = alert_texts(rc)
    assert shown == [f"Config error: {cli.value}"]
    assert "\n" not in shown[0] and "Traceback" not in shown[0]
    assert state.city.value == "Sheffield" and state.upload.value is None


def test_huge_or_exploding_uploads_are_refused():
    class NeverRead(io.BytesIO):
        def read(self, *a):
            raise AssertionError("a file announced as too big must not be read")

    state, rc = render_app()
    app.handle_upload(state, {"name": "../../etc/huge.yaml", "size": MAX_CONFIG_BYTES + 1,
                              "file_obj": NeverRead(), "data": None})
    assert alert_texts(rc) == [f"Config error: config file 'huge.yaml' is larger than "
                               f"{MAX_CONFIG_BYTES} bytes"]
    with pytest.raises(ConfigError, match="larger than"):  # size unknown: stops reading at 1 MB
        st.read_upload("big.yaml", io.BytesIO(b"#" * (2 * MAX_CONFIG_BYTES)))
    bomb = "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(
        f"{k}: &{k} [{', '.join(['*' + p] * 10)}]\n"
        for p, k in zip("abcdefgh", "bcdefghi", strict=True))
    with pytest.raises(ConfigError, match="aliases"):
        st.read_upload("bomb.yaml", bomb.encode())
    with pytest.raises(ConfigError, match="not valid YAML"):
        st.read_upload("code.yaml", b"name: !!python/object/apply:os.system ['echo hi']\n")


def test_good_upload_becomes_the_city(tmp_path):
    raw = (ROOT / "configs" / "oldham.yaml").read_bytes()
    state, rc = render_app()
    _upload(state, "my_city.yaml", raw)
    assert not alert_texts(rc)
    assert state.city.value == st.UPLOADED and state.rule.value == "blended"
    rc.find(v.Alert, type="success").assert_not_empty()
    path = tmp_path / "my_city.yaml"
    path.write_bytes(raw)
    cfg = st.build_config(st.UPLOADED, "pbr", SMALL, state.upload.value)
    assert cfg == load_config(path, overlays=[st.make_overlay(load_config(path), "pbr", SMALL)])
    assert "--config my_city.yaml" in st.cli_command(st.UPLOADED, "pbr", SMALL,
                                                     state.upload.value)


# ----------------------------------------------------------------------------------------------
# the same config and numbers as the command line
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("city", "rule", "levers"), [
    ("Sheffield", "cobic", EVERY_LEVER),
    ("Bedford", "block", st.Levers(hub_for_all=False, theatre_factor=0.8,
                                   theatre_provider="circle", scale=0.05)),
    ("Oldham", "blended", st.Levers()),
])
def test_build_config_is_the_cli_config(city, rule, levers, tmp_path):
    cfg = st.build_config(city, rule, levers)
    base_path = st.city_path(city)
    overlay = st.make_overlay(load_config(base_path), rule, levers)
    assert cfg == load_config(base_path, overlays=[overlay])
    # the command line the app shows, with the overlay file it offers, gives the same config
    (tmp_path / st.OVERLAY_FILE).write_text(st.overlay_yaml(city, rule, levers))
    args = build_parser().parse_args(shlex.split(st.cli_command(city, rule, levers))[1:])
    args.overlay = [str(tmp_path / f) for f in args.overlay]
    if args.config:
        args.config = str(ROOT / args.config)
    assert args.contract == rule
    assert _load(args) == cfg


def test_every_lever_reaches_the_config():
    cfg = st.build_config("Sheffield", "cobic", EVERY_LEVER)
    base = load_config(None)
    assert cfg.contract.cobic.outcome_incentive_share_by_year == [0.08] * 5
    assert cfg.contract.cobic.inflation_per_year - cfg.contract.cobic.efficiency_per_year \
        == pytest.approx(0.01)
    assert cfg.contract.block.uplift_per_year == cfg.contract.blended.uplift_per_year == 0.01
    for name, svc in base.services.items():
        if svc.kind == "theatre":
            assert cfg.services[name].sessions_per_week == pytest.approx(
                1.4 * svc.sessions_per_week)
    assert cfg.services["sth_theatres"].theatres == 5  # 43.4 sessions need a fifth theatre
    assert cfg.behaviour.adaptation.levers.decision_support_share.initial == 0.5
    assert cfg.services["hub"].enabled and cfg.pathway.single_point_of_access == "hub"
    assert cfg.population.practices.referral_propensity_sd_log == 0.5
    assert cfg.behaviour.w_money_qaly_per_gbp == 5e-5
    assert (cfg.run.scale, cfg.run.seed, cfg.run.years) == (0.03, 7, 1)
    # untouched levers leave the city's config alone (apart from the run size)
    assert st.make_overlay(base, "pbr", st.Levers()) == {
        "contract": {"rule": "pbr"}, "run": {"scale": 0.1, "years": 2}}


def test_app_run_gives_the_numbers_of_msksim_run():
    state, rc = render_app()
    small_start(state, rc, SMALL)
    for _ in range(3):
        click(rc, "Step a week")
    click(rc, "Run a year")
    live = state.live.value
    assert live.weeks_done == 55
    cfg = load_config(None, overlays=[st.make_overlay(load_config(None), "pbr", SMALL)])
    assert live.cfg == cfg
    ref = MSKModel(cfg, contract="pbr")
    for _ in range(55):
        ref.step()
    pd.testing.assert_frame_equal(live.model.datacollector.get_model_vars_dataframe(),
                                  ref.datacollector.get_model_vars_dataframe())
    pd.testing.assert_frame_equal(live.model.recorder.frame(), ref.recorder.frame())
    assert live.model.ledger.rows == ref.ledger.rows
    # the live chart's waiting list is the DataCollector's, scaled to the whole city
    h = live.headline()
    assert h["waiting_surgery"].iloc[-1] == pytest.approx(
        ref.datacollector.get_model_vars_dataframe()["waiting_surgery"].iloc[-1] / 0.03)


# ----------------------------------------------------------------------------------------------
# buttons and sessions
# ----------------------------------------------------------------------------------------------
def test_buttons_advance_the_week_counter():
    state, rc = render_app()
    small_start(state, rc)
    assert week_counter(rc) == "Week 0"
    click(rc, "Step a week")
    assert week_counter(rc) == "Week 1"
    click(rc, "Run a year")
    assert week_counter(rc) == "Week 53"
    assert state.live.value.contract_week == 1
    click(rc, "Run a year")  # one contract year: the run ends at week 52 + 52
    assert week_counter(rc) == "Week 104"
    assert button(rc, "Run a year").disabled
    click(rc, "Reset")
    assert week_counter(rc) == "Week 0"
    assert not button(rc, "Step a week").disabled


def test_two_sessions_keep_their_own_models():
    s1, rc1 = render_app()
    s2, rc2 = render_app()
    for s, rc in ((s1, rc1), (s2, rc2)):
        small_start(s, rc)
        show_tab(rc, "Set up")
    assert s1.live.value is not s2.live.value
    rc1.find(v.Slider, label="Theatre sessions (× today's plan)").widget.v_model = 1.2
    assert s1.levers.value.theatre_factor == 1.2
    assert s2.levers.value.theatre_factor == 1.0
    assert rc2.find(v.Slider, label="Theatre sessions (× today's plan)").widget.v_model == 1.0
    show_tab(rc1, "Watch it run")
    click(rc1, "Reset")
    click(rc1, "Step a week")
    sessions = [s.live.value.cfg.services["sth_theatres"].sessions_per_week for s in (s1, s2)]
    assert sessions[0] == pytest.approx(1.2 * sessions[1])
    assert s1.live.value.weeks_done == 1 and s2.live.value.weeks_done == 0
    show_tab(rc2, "Watch it run")
    assert week_counter(rc2) == "Week 0" and week_counter(rc1) == "Week 1"
    rc2.find(v.Html, class_="chart-card chart-waiting").assert_single()


def test_a_broken_set_up_shows_one_line_not_a_traceback():
    state, rc = render_app()
    state.rule.set("cobic")
    up = st.load_upload("no_cobic.yaml", yaml.safe_dump(
        {k: v_ for k, v_ in yaml.safe_load((ROOT / "configs" / "sheffield.yaml").read_text())
         .items() if k != "contract"}).encode())
    state.upload.set(up)
    state.city.set(st.UPLOADED)  # as if the rule were left at one this city cannot run
    errors = alert_texts(rc)
    assert errors and errors[0].startswith("This set-up cannot run. Config error: contract.cobic")
    show_tab(rc, "Watch it run")
    click(rc, "Reset")
    shown = alert_texts(rc)
    assert shown[0].startswith("Config error: contract.cobic") and "Traceback" not in shown[0]
    assert state.live.value is None


def test_take_it_away_files(tmp_path):
    state, rc = render_app()
    small_start(state, rc)
    click(rc, "Run a year")
    live = state.live.value
    weekly = pd.read_csv(io.BytesIO(app.results_csv(live)))
    assert len(weekly) == 52 and {"waiting_surgery", "pct_within_18_weeks",
                                  "commissioner_spend_gbp", "phase"} <= set(weekly.columns)
    with zipfile.ZipFile(io.BytesIO(app.charts_zip(live))) as z:
        names = z.namelist()
        assert "chart-waiting.png" in names and "chart-pathway.png" in names
        assert z.read("chart-rtt.png")[:4] == b"\x89PNG"
    resolved = yaml.safe_load(app.config_yaml(live))
    assert validate_config(resolved) == live.cfg  # the file loads back to the same config
    overlay = yaml.safe_load(app.overlay_yaml(live))
    assert load_config(None, overlays=[overlay]) == live.cfg


# ----------------------------------------------------------------------------------------------
# review mends: markup in uploads, scaling, spend, a COBIC city through every page
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("where, text", [
    (("name",), "<img src=x onerror=alert(1)>"),
    (("name",), "Leeds {{ 6*7 }}"),
    (("providers", "sth", "name"), "Clinic $\\foo$"),
])
def test_uploads_with_markup_or_maths_are_refused_in_one_line(where, text):
    data = yaml.safe_load((ROOT / "configs" / "sheffield.yaml").read_text())
    node = data
    for k in where[:-1]:
        node = node[k]
    node[where[-1]] = text
    state, rc = render_app()
    _upload(state, "city.yaml", yaml.safe_dump(data).encode())
    shown = alert_texts(rc)
    assert len(shown) == 1 and shown[0].startswith(f"Config error: {'.'.join(where)}: ")
    assert "may not contain" in shown[0]
    assert state.upload.value is None and state.city.value == "Sheffield"


def test_names_reach_markdown_inert_and_file_names_plain():
    assert st.md("A|B *c* <b>x</b> [l](u)") == r"A\|B \*c\* &lt;b&gt;x&lt;/b&gt; \[l\](u)"
    assert st._display_name("../../x\n# run: rm -rf ~ <b>.yaml") == "x__ run_ rm -rf _ _b_.yaml"
    assert charts.plain("£5 $ or $10") == r"£5 \$ or \$10"


def test_the_app_refuses_a_run_too_big_for_a_shared_server():
    big = st.load_upload("big.yaml", yaml.safe_dump(
        {**yaml.safe_load((ROOT / "configs" / "sheffield.yaml").read_text()),
         "population": {**yaml.safe_load((ROOT / "configs" / "sheffield.yaml").read_text())
                        ["population"], "registered_adults": 5_000_000}}).encode())
    assert st.scale_max(big.cfg) == 0.2
    with pytest.raises(ConfigError, match=r"run.scale: 0.5 .* at most 1,000,000"):
        st.build_config(st.UPLOADED, "pbr", st.Levers(scale=0.5), big)
    assert st.build_config(st.UPLOADED, "pbr", st.Levers(scale=0.2), big).run.scale == 0.2


def test_spend_counts_the_year_end_outcome_payment_once_in_its_own_year():
    weeks = np.arange(-4, 104)
    spend = pd.Series(np.where((weeks >= 0) & (weeks % 52 == 51), 30.0, 1.0))  # year-end lump
    ytd = charts.year_to_date(spend, weeks).to_numpy()
    assert ytd[weeks == -1][0] == 1.0  # the warm-up is its own period
    assert ytd[weeks == 50][0] == 1.0  # no spike before the year has ended
    assert ytd[weeks == 51][0] == pytest.approx((51 + 30) / 52)  # the year's true mean
    assert ytd[weeks == 52][0] == 1.0  # a new year starts afresh
    assert ytd[weeks == 103][0] == pytest.approx((51 + 30) / 52)


def test_a_cobic_city_through_watch_system_and_take_away():
    """Bedford under COBIC past its first contract year: the system page shows the prime's
    surplus, the downloads are whole-city, and Compare's charts join the zip only when they
    were run with the same Set up."""
    state, rc = render_app()
    app.choose_city(state, "Bedford")
    state.rule.set("cobic")
    small_start(state, rc, st.Levers(scale=0.02, years=2))
    live = state.live.value
    live.step(live.warmup + 54)
    state.tick.set(state.tick.value + 1)
    show_tab(rc, "The system")
    rc.find(v.Html, class_="chart-card chart-money").assert_single()
    assert rc.find(ipywidgets.Image).widgets[0].value[:4] == b"\x89PNG"
    sentence = app._prime_sentence(live, live.provider_pnl()[1])
    assert sentence.startswith("**The prime contractor**, ") and "a year" in sentence
    phase, flows = live.flows_per_year()
    assert phase == "contract" and sum(flows.values()) > 0
    assert rc.find(v.Alert, type="error").widgets == []
    # the results file is whole-city throughout: outcomes scale with operations
    weekly = pd.read_csv(io.BytesIO(app.results_csv(live)))
    raw = pd.DataFrame(live.extras)
    assert weekly["new_outcomes"].sum() == pytest.approx(raw["new_outcomes"].sum() / live.scale)
    # a comparison with another Set up stays out of the zip; one with this Set up goes in
    other = sim.run_comparison(replace(live.choices, levers=st.Levers(scale=0.02, years=1,
                                                                      seed=3)),
                               "pbr", "cobic", 1)
    with zipfile.ZipFile(io.BytesIO(app.charts_zip(live, other))) as z:
        assert not any(n.startswith("chart-compare") for n in z.namelist())
    same = sim.run_comparison(live.choices, "pbr", "cobic", 1)
    with zipfile.ZipFile(io.BytesIO(app.charts_zip(live, same))) as z:
        names = z.namelist()
        assert "chart-compare-waiting_surgery.png" in names
        assert "comparison_differences.csv" in names


def test_stopping_a_comparison_stops_inside_the_run():
    calls = []

    def cancelled() -> bool:
        calls.append(1)
        return len(calls) > 5  # stop during the first run, after a few weeks

    out = sim.run_comparison(sim.Choices("Sheffield", "pbr", SMALL), "pbr", "cobic", 1,
                             cancelled=cancelled)
    assert out is None and len(calls) == 6
