"""The pathway as a networkx DiGraph: services are nodes, the config's edges the allowed routes.

Redesigns (a hub as single point of access, a new community service, an independent-sector
provider) are edits to this graph and to capacities, not new code paths.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np

from .config import (
    GP_NODE,
    CityConfig,
    CommunityService,
    ConfigError,
    HubService,
    OutpatientService,
    TheatreService,
)

KINDS = ("hub", "community", "outpatient", "theatre")
HUB, COMMUNITY, OUTPATIENT, THEATRE = range(len(KINDS))
GP_INDEX = -2  # the GP practices, as a referral source


@dataclass
class Pathway:
    graph: nx.DiGraph
    names: list[str]  # service index -> name
    kind: np.ndarray  # service index -> index into KINDS
    provider: list[str]  # service index -> provider key
    specialty: list[str | None]
    rtt: np.ndarray  # does the RTT clock run while here (consultant-led or interface service)

    def index(self, name: str) -> int:
        return self.names.index(name)

    def successors(self, node: str) -> list[int]:
        """Service indices reachable from `node` in one step, in a stable order."""
        return [self.names.index(s) for s in sorted(self.graph.successors(node))]

    def lists_for_surgery(self, node: str) -> bool:
        """Can this service put patients on a theatre list?"""
        theatre = KINDS.index("theatre")
        return any(self.kind[t] == theatre for t in self.successors(node))

    def of_kind(self, kind: str) -> list[int]:
        k = KINDS.index(kind)
        return [i for i in range(len(self.names)) if self.kind[i] == k]


def build_pathway(cfg: CityConfig) -> Pathway:
    """Build and check the graph: routes between the right kinds of service, a way out of GP."""
    names = [n for n, s in cfg.services.items() if s.enabled]
    g = nx.DiGraph()
    g.add_node(GP_NODE, kind="gp")
    for n in names:
        s = cfg.services[n]
        g.add_node(n, kind=s.kind, provider=s.provider)
    spoa = cfg.pathway.single_point_of_access
    hubs = [n for n in names if cfg.services[n].kind == "hub"]
    if spoa is not None and spoa not in hubs:
        allowed = f"allowed: {sorted(hubs)}" if hubs else "no hub is switched on (enabled: true)"
        raise ConfigError(f"pathway.single_point_of_access: '{spoa}' is not an enabled hub; "
                          f"{allowed}")
    for i, (a, b) in enumerate(cfg.pathway.edges):
        if a not in g or b not in g:
            continue  # an edge to a switched-off service
        if spoa is not None and a == GP_NODE and b != spoa:
            continue  # every GP referral goes through the single point of access
        ka, kb = g.nodes[a]["kind"], g.nodes[b]["kind"]
        if kb == "gp" or a == b:
            raise ConfigError(f"pathway.edges.{i}: [{a}, {b}] is not a referral route")
        if kb == "theatre" and ka != "outpatient":
            raise ConfigError(f"pathway.edges.{i}: [{a}, {b}]: only an outpatient clinic can "
                              f"list a patient for a theatre")
        if ka == "theatre":
            raise ConfigError(f"pathway.edges.{i}: [{a}, {b}]: a theatre refers nowhere")
        g.add_edge(a, b)
    if spoa is not None and not g.has_edge(GP_NODE, spoa):
        g.add_edge(GP_NODE, spoa)
    if not any(True for _ in g.successors(GP_NODE)):
        raise ConfigError("pathway.edges: no route leaves 'gp', so no one can be referred")
    kind = np.array([KINDS.index(cfg.services[n].kind) for n in names], dtype=np.int8)
    specialty = [cfg.services[n].specialty if isinstance(cfg.services[n], OutpatientService)
                 else None for n in names]
    rtt = np.array([isinstance(cfg.services[n], HubService | OutpatientService | TheatreService)
                    for n in names], dtype=bool)
    return Pathway(graph=g, names=names, kind=kind,
                   provider=[cfg.services[n].provider for n in names], specialty=specialty,
                   rtt=rtt)


def weekly_capacity(cfg: CityConfig, pathway: Pathway) -> dict[str, np.ndarray]:
    """Average capacity per calendar week by type, scaled to the simulated population."""
    n = len(pathway.names)
    cap = {k: np.zeros(n) for k in ("first", "follow_up", "sessions")}
    for i, name in enumerate(pathway.names):
        s = cfg.services[name]
        open_share = s.operating_weeks_per_year / 52.0
        if isinstance(s, HubService):
            cap["first"][i] = s.triage_slots_per_week * open_share
        elif isinstance(s, CommunityService):
            cap["first"][i] = s.new_patient_slots_per_week * open_share
            cap["follow_up"][i] = s.follow_up_contacts_per_week * open_share
        elif isinstance(s, OutpatientService):
            cap["first"][i] = s.first_slots_per_week * open_share
            cap["follow_up"][i] = s.follow_up_slots_per_week * open_share
        elif isinstance(s, TheatreService):
            cap["sessions"][i] = s.sessions_per_week * open_share
    scale = cfg.run.scale
    return {k: v * scale for k, v in cap.items()}


def scenario_factors(cfg: CityConfig, pathway: Pathway, week: int) -> np.ndarray:
    """Each service's capacity multiplier this week from the config's capacity changes
    (a theatre closing, a clinic cut, a site running more sessions from a week). A site
    planned at 0 sessions stays at 0: to open new capacity, plan its sessions and close it
    (factor 0) until the week it opens."""
    f = np.ones(len(pathway.names))
    for ch in cfg.capacity.changes:
        if ch.service in pathway.names and ch.from_week <= week and (
                ch.to_week is None or week <= ch.to_week):
            f[pathway.names.index(ch.service)] *= ch.factor
    return f


def winter_factor(cfg: CityConfig, week: int) -> tuple[float, float]:
    """(share of theatre sessions kept, extra on-the-day cancellation rate) this week."""
    wc = cfg.capacity.winter
    if (week - wc.start_week_of_year) % 52 < wc.weeks:
        return wc.session_factor, wc.extra_cancellation_rate
    return 1.0, 0.0
