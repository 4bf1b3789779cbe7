"""The readable side of an adaptation's ``report.json``: ``report.md``, a few tables a person reads
to judge the pseudo-labels (what was mined, what each round trained on, how right it was)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def summary_lines(report: dict[str, Any]) -> list[str]:
    """``report`` (the runner's ``report.json``) as Markdown lines."""
    mining, outputs = report["mining"], report["outputs"]
    model = report["config"]["model"]
    lines = [
        "# Re-id adaptation report",
        "",
        f"Model `{model['name']}` ({'from `' + model['weights'] + '`' if model.get('weights') else 'init `' + model['init'] + '`'}), "
        f"{outputs['feature_dim']}-d feature, input "
        f"{outputs['input_size'][0]} x {outputs['input_size'][1]}; {len(report['rounds'])} training round(s) "
        f"in {report['seconds']:.0f} s.",
        "",
    ]
    crops = (report["config"]["source"] or {}).get("images")
    if crops:
        lines += [
            f"## Crops (one vehicle each, from {crops['root']}; round 0 clusters them with the start model)",
            "",
            "| camera | crops |",
            "|---|---|",
        ]
        lines += [f"| {camera} | {item['tracks']} |" for camera, item in mining["cameras"].items()]
    else:
        lines += [
            "## Mining (one confident, long, moving track = one pseudo-identity)",
            "",
            "| camera | frames | tracks | pseudo-identities | rejected | seconds |",
            "|---|---|---|---|---|---|",
        ]
        for camera, item in mining["cameras"].items():
            rejected = ", ".join(f"{reason} {count}" for reason, count in item["rejected"].items()) or "-"
            lines.append(
                f"| {camera} | {item['frames']} | {item['tracks']} | {item['identities']} | {rejected} | {item['seconds']} |"
            )
    cached = " (read back from the cache)" if mining["cached"] else ""
    lines += [
        "",
        f"{mining['pseudo_identity_tracks']} tracks, {mining['crops']} crops{cached}.",
        "",
        "## Rounds",
        "",
        "| round | labels | identities | images | tracks per identity | cameras per identity | stop distance | "
        "losses | epochs | iterations | loss first -> last | seconds |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for item in report["rounds"]:
        statistics = item["statistics"]
        threshold = "-" if item["threshold"] is None else f"{item['threshold']:.3f}"
        lines.append(
            f"| {item['round']} | {item['labels']} | {statistics['identities']} | {statistics['images']} | "
            f"{_histogram(statistics['identities_by_tracks'])} | {_histogram(statistics['identities_by_cameras'])} | "
            f"{threshold} | {'per camera' if item['per_camera_losses'] else 'all cameras'} | "
            f"{item['epochs']} | {item['iterations']} | "
            f"{item['loss_first']:.3f} -> {item['loss_last']:.3f} | {item['seconds']:.0f} |"
        )
    if mining["has_truth"]:
        lines += [
            "",
            "## Against the ground truth (report only; training never sees it)",
            "",
            "Image purity: crops whose vehicle is their identity's most common one. Link precision / recall: "
            "pairs of tracks in different cameras given one identity that are one vehicle / pairs that are one "
            "vehicle given one identity. Validation: cross-camera mAP / rank-1 on ground-truth-labelled crops "
            "of these cameras (the training vehicles: optimistic), last evaluated epoch of the round.",
            "",
            "| round | image purity | cross-camera links | link precision | link recall | identities per vehicle | "
            "validation mAP / rank-1 |",
            "|---|---|---|---|---|---|---|",
        ]
        for item in report["rounds"]:
            truth = item["statistics"]["truth"]
            validation = item["truth_validation"]
            scores = (
                f"{100 * validation[-1]['mAP']:.1f} / {100 * validation[-1]['rank1']:.1f}" if validation else "-"
            )
            lines.append(
                f"| {item['round']} | {_percent(truth['image_purity'])} | {truth['cross_camera_links']} | "
                f"{_percent(truth['link_precision'])} | {_percent(truth['link_recall'])} | "
                f"{_number(truth['identities_per_vehicle'])} | {scores} |"
            )
    check = report.get("check")
    if check:
        lines += [
            "",
            "## Check on labelled vehicles (adaptation that only helps)",
            "",
            f"{check['data']}, through the deployed embedder path; the model it started from is {check['input']}.",
            "",
            "| model | mAP | rank-1 | recolour AUC |",
            "|---|---|---|---|",
        ]
        for label, key in (("started from", "before"), ("adapted", "after")):
            scores = check[key]
            lines.append(f"| {label} | {_percent(scores['mean']['mAP'])} | {_percent(scores['mean']['rank1'])} | "
                         f"{scores['recolour']['auc']:.3f} |")  # fmt: skip
        verdict = (
            "kept: it lost no more than allowed"
            if check["kept"] == "adapted" and check["loss"] <= check["max_loss"]
            else "**lost accuracy**; "
            + ("model.pt is the model it started from" if check["kept"] == "input" else "no trained input to keep")
        )
        lines += ["", f"Adaptation {verdict} (mAP change {-100 * check['loss']:+.1f}, allowed -{100 * check['max_loss']:.1f})."]
    shipped = "the model it started from (check)" if check and check["kept"] == "input" else "the last round's checkpoint"
    lines += [
        "",
        "## Outputs",
        "",
        f"- `{outputs['checkpoint']}`: {shipped} (`embedder: {{name: reid, weights: PATH}}`)",
        f"- `{outputs['onnx']}`: its ONNX export, {outputs['onnx_mb']} MB (fp32), max |onnx - torch| "
        f"{outputs['onnx_max_abs_diff']:.2g}",
    ]
    if outputs["curves"]:
        lines.append(f"- `{outputs['curves']}`: losses of every round end to end")
    return lines


def write_summary(report: dict[str, Any], path: Path) -> Path:
    path.write_text("\n".join(summary_lines(report)) + "\n", encoding="utf-8")
    return path


def _histogram(counts: dict[str, int]) -> str:
    """{"1": 40, "2": 3} -> "1: 40, 2: 3"."""
    return ", ".join(f"{size}: {count}" for size, count in counts.items())


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
