"""Plain, slow restatements of the metric definitions: a dense per-frame loop, no shortcuts.

The tests check that the sparse, vectorised engine gives the same numbers on random cases
full of ambiguous overlaps.
"""

import numpy as np
from scipy.optimize import linear_sum_assignment

ALPHAS = np.arange(0.05, 0.99, 0.05)


def iou_matrix(a, b):
    out = np.zeros((len(a), len(b)))
    for i, (ax, ay, aw, ah) in enumerate(a):
        for j, (bx, by, bw, bh) in enumerate(b):
            iw = max(min(ax + aw, bx + bw) - max(ax, bx), 0)
            ih = max(min(ay + ah, by + bh) - max(ay, by), 0)
            inter = iw * ih
            out[i, j] = inter / (aw * ah + bw * bh - inter) if inter > 0 else 0.0
    return out


def _frames(gt, pred):
    for f in sorted(set(gt.frame.tolist()) | set(pred.frame.tolist())):
        g, p = np.flatnonzero(gt.frame == f), np.flatnonzero(pred.frame == f)
        yield g, p, iou_matrix(gt.xywh[g], pred.xywh[p])


def clear_and_identity(gt, pred, min_iou=0.5):
    last, matches, switches, dist_sum = {}, 0, 0, 0.0
    co = {}
    for g, p, iou in _frames(gt, pred):
        dist = np.where(1 - iou <= 1 - min_iou, 1 - iou, np.nan)
        for i in range(len(g)):
            for j in range(len(p)):
                if np.isfinite(dist[i, j]):
                    key = (gt.id[g[i]], pred.id[p[j]])
                    co[key] = co.get(key, 0) + 1
        used_g, used_p = set(), set()
        for i in range(len(g)):  # keep last frame's partner
            o = gt.id[g[i]]
            for j in range(len(p)):
                if o in last and pred.id[p[j]] == last[o] and j not in used_p and np.isfinite(dist[i, j]):
                    used_g.add(i), used_p.add(j)
                    matches += 1
                    dist_sum += dist[i, j]
                    break
        cost = dist.copy()
        cost[list(used_g), :] = np.nan
        cost[:, list(used_p)] = np.nan
        valid = np.isfinite(cost)
        if valid.any():
            big = 2 * min(cost.shape) * (np.abs(cost[valid]).max() + 1) + 1
            rows, cols = linear_sum_assignment(np.where(valid, cost, big))
            for i, j in zip(rows, cols):
                if valid[i, j]:
                    o, h = gt.id[g[i]], pred.id[p[j]]
                    switches += o in last and last[o] != h
                    last[o] = h
                    matches += 1
                    dist_sum += dist[i, j]
    g_ids, p_ids = np.unique(gt.id), np.unique(pred.id)
    weight = np.zeros((len(g_ids), len(p_ids)))
    for (o, h), n in co.items():
        weight[np.searchsorted(g_ids, o), np.searchsorted(p_ids, h)] = n
    r, c = linear_sum_assignment(weight, maximize=True)
    return dict(
        num_matches=matches, num_switches=switches, motp=dist_sum / max(matches, 1), idtp=weight[r, c].sum()
    )


def hota(gt, pred):
    g_ids, g_idx = np.unique(gt.id, return_inverse=True)
    p_ids, p_idx = np.unique(pred.id, return_inverse=True)
    potential = np.zeros((len(g_ids), len(p_ids)))
    g_count = np.bincount(g_idx, minlength=len(g_ids))[:, None].astype(float)
    p_count = np.bincount(p_idx, minlength=len(p_ids))[None, :].astype(float)
    frames = list(_frames(gt, pred))
    for g, p, sim in frames:
        denom = sim.sum(0)[None, :] + sim.sum(1)[:, None] - sim
        soft = np.where(denom > np.finfo(float).eps, sim / np.where(denom > 0, denom, 1), 0)
        np.add.at(potential, (g_idx[g][:, None], p_idx[p][None, :]), soft)
    alignment = potential / (g_count + p_count - potential)
    tp, fn, fp, loc = (np.zeros(len(ALPHAS)) for _ in range(4))
    counts = np.zeros((len(ALPHAS), len(g_ids), len(p_ids)))
    for g, p, sim in frames:
        if len(g) == 0 or len(p) == 0:
            fn += len(g)
            fp += len(p)
            continue
        rows, cols = linear_sum_assignment(-(alignment[g_idx[g][:, None], p_idx[p][None, :]] * sim))
        for a, alpha in enumerate(ALPHAS):
            ok = sim[rows, cols] >= alpha - np.finfo(float).eps
            tp[a] += ok.sum()
            fn[a] += len(g) - ok.sum()
            fp[a] += len(p) - ok.sum()
            loc[a] += sim[rows[ok], cols[ok]].sum()
            np.add.at(counts[a], (g_idx[g][rows[ok]], p_idx[p][cols[ok]]), 1)
    assa = np.array([(c * c / np.maximum(1, g_count + p_count - c)).sum() for c in counts]) / np.maximum(
        1, tp
    )
    deta = tp / np.maximum(1, tp + fn + fp)
    return dict(
        hota=np.sqrt(deta * assa).mean(),
        deta=deta.mean(),
        assa=assa.mean(),
        loca=(np.maximum(1e-10, loc) / np.maximum(1e-10, tp)).mean(),
    )
