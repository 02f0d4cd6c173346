"""Task metadata: the 22 TDC ADMET group tasks and the MoleculeNet CSVs.

Metrics of the ADMET tasks are TDC's (``tdc.metadata.admet_metrics``). MoleculeNet tasks use
the metrics the MoleculeNet paper recommends for them: ``roc-auc`` for classification
(averaged over targets, ignoring missing labels, for multi-target sets), ``rmse`` for
regression.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from molstrata.core.errors import ConfigError, check_choice
from molstrata.data._metrics import higher_is_better

TaskType = Literal["regression", "classification"]
Metric = Literal["mae", "rmse", "spearman", "roc-auc", "pr-auc"]
GROUPS = ("admet", "moleculenet")
MOLECULENET_PREFIX = "moleculenet:"


@dataclass(frozen=True)
class TaskInfo:
    """What a task is, independent of the data files.

    Attributes
    ----------
    name : str
        The task name ``load_task`` accepts.
    group : {"admet", "moleculenet", "csv"}
    task_type : {"regression", "classification"}
    metric : {"mae", "rmse", "spearman", "roc-auc", "pr-auc"}
        TDC's metric for ADMET tasks.
    """

    name: str
    group: str
    task_type: str
    metric: str

    @property
    def higher_is_better(self) -> bool:
        """False for error metrics (mae, rmse), True otherwise."""
        return higher_is_better(self.metric)


# name -> metric, exactly as TDC's admet_metrics (cyp3a4_substrate_carbonmangels is roc-auc).
_ADMET_METRICS = {
    "caco2_wang": "mae",
    "hia_hou": "roc-auc",
    "pgp_broccatelli": "roc-auc",
    "bioavailability_ma": "roc-auc",
    "lipophilicity_astrazeneca": "mae",
    "solubility_aqsoldb": "mae",
    "bbb_martins": "roc-auc",
    "ppbr_az": "mae",
    "vdss_lombardo": "spearman",
    "cyp2c9_veith": "pr-auc",
    "cyp2d6_veith": "pr-auc",
    "cyp3a4_veith": "pr-auc",
    "cyp2c9_substrate_carbonmangels": "pr-auc",
    "cyp3a4_substrate_carbonmangels": "roc-auc",
    "cyp2d6_substrate_carbonmangels": "pr-auc",
    "half_life_obach": "spearman",
    "clearance_hepatocyte_az": "spearman",
    "clearance_microsome_az": "spearman",
    "ld50_zhu": "mae",
    "herg": "roc-auc",
    "ames": "roc-auc",
    "dili": "roc-auc",
}

ADMET_TASKS: dict[str, TaskInfo] = {
    name: TaskInfo(
        name,
        "admet",
        "classification" if metric in ("roc-auc", "pr-auc") else "regression",
        metric,
    )
    for name, metric in sorted(_ADMET_METRICS.items())
}


@dataclass(frozen=True)
class MoleculeNetSpec:
    """Where one MoleculeNet dataset lives in ``<data_dir>/moleculenet/`` and how to read it."""

    info: TaskInfo
    file: str
    smiles_col: str
    target_cols: tuple[str, ...]
    id_col: str | None


def _mn(
    name: str,
    file: str,
    smiles_col: str,
    targets: Sequence[str],
    id_col: str | None,
    task_type: TaskType,
) -> MoleculeNetSpec:
    metric = "roc-auc" if task_type == "classification" else "rmse"
    info = TaskInfo(MOLECULENET_PREFIX + name, "moleculenet", task_type, metric)
    return MoleculeNetSpec(info, file, smiles_col, tuple(targets), id_col)


_TOX21 = (
    "NR-AR NR-AR-LBD NR-AhR NR-Aromatase NR-ER NR-ER-LBD NR-PPAR-gamma SR-ARE SR-ATAD5 "
    "SR-HSE SR-MMP SR-p53"
).split()
_SIDER = (
    "Hepatobiliary disorders",
    "Metabolism and nutrition disorders",
    "Product issues",
    "Eye disorders",
    "Investigations",
    "Musculoskeletal and connective tissue disorders",
    "Gastrointestinal disorders",
    "Social circumstances",
    "Immune system disorders",
    "Reproductive system and breast disorders",
    "Neoplasms benign, malignant and unspecified (incl cysts and polyps)",
    "General disorders and administration site conditions",
    "Endocrine disorders",
    "Surgical and medical procedures",
    "Vascular disorders",
    "Blood and lymphatic system disorders",
    "Skin and subcutaneous tissue disorders",
    "Congenital, familial and genetic disorders",
    "Infections and infestations",
    "Respiratory, thoracic and mediastinal disorders",
    "Psychiatric disorders",
    "Renal and urinary disorders",
    "Pregnancy, puerperium and perinatal conditions",
    "Ear and labyrinth disorders",
    "Cardiac disorders",
    "Nervous system disorders",
    "Injury, poisoning and procedural complications",
)

MOLECULENET_TASKS: dict[str, MoleculeNetSpec] = {
    spec.info.name: spec
    for spec in (
        _mn(
            "esol",
            "delaney-processed.csv",
            "smiles",
            ["measured log solubility in mols per litre"],
            "Compound ID",
            "regression",
        ),
        _mn("freesolv", "SAMPL.csv", "smiles", ["expt"], "iupac", "regression"),
        _mn("lipophilicity", "Lipophilicity.csv", "smiles", ["exp"], "CMPD_CHEMBLID", "regression"),
        _mn("bbbp", "BBBP.csv", "smiles", ["p_np"], "name", "classification"),
        _mn("bace", "bace.csv", "smiles", ["Class"], "CID", "classification"),
        _mn("clintox", "clintox.csv", "smiles", ["FDA_APPROVED", "CT_TOX"], None, "classification"),
        _mn("tox21", "tox21.csv", "smiles", _TOX21, "mol_id", "classification"),
        _mn("hiv", "HIV.csv", "smiles", ["HIV_active"], None, "classification"),
        _mn("sider", "sider.csv", "smiles", _SIDER, None, "classification"),
    )
}


def list_tasks(group: str = "admet") -> list[str]:
    """Names of the tasks in ``group``.

    Parameters
    ----------
    group : {"admet", "moleculenet"}, default="admet"
        ``"admet"``: the 22 TDC ADMET benchmark group tasks, lower case as TDC spells them.
        ``"moleculenet"``: ``moleculenet:esol``, ``moleculenet:freesolv``,
        ``moleculenet:lipophilicity``, ``moleculenet:bbbp``, ``moleculenet:bace``,
        ``moleculenet:clintox``, ``moleculenet:tox21``, ``moleculenet:hiv``,
        ``moleculenet:sider``.

    Returns
    -------
    list of str
        Sorted task names.

    Examples
    --------
    >>> len(list_tasks("admet"))
    22
    """
    check_choice("group", group, GROUPS)
    return sorted(ADMET_TASKS if group == "admet" else MOLECULENET_TASKS)


def task_info(name: str) -> TaskInfo:
    """Type and metric of a registered task (no data is read).

    Raises
    ------
    ConfigError
        If ``name`` is not a registered task; the message lists close matches.
    """
    key = name.strip().lower() if isinstance(name, str) else name
    if key in ADMET_TASKS:
        return ADMET_TASKS[key]
    if key in MOLECULENET_TASKS:
        return MOLECULENET_TASKS[key].info
    raise ConfigError(_unknown_task_message(name))


def _unknown_task_message(name: object) -> str:
    import difflib

    known = [*ADMET_TASKS, *MOLECULENET_TASKS]
    close = difflib.get_close_matches(str(name).lower(), known, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return (
        f"unknown task {name!r}.{hint} See `molstrata tasks` (or list_tasks('admet') / "
        "list_tasks('moleculenet')); for your own CSV use load_csv_task()."
    )
