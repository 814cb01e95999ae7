"""Evaluate: test accuracy, confusion matrix, precision/recall, mistakes, runs compared."""

import numpy as np
import pandas as pd
import streamlit as st

from netcore.metrics import confusion_matrix, misclassified_by_confidence, precision_recall
from ui import inside, state
from ui.charts.evaluate import (
    confusion_figure,
    gallery_figure,
    precision_recall_figure,
    runs_figure,
)
from ui.math_panels import view_math
from ui.show import show_chart

st.title("Evaluate")
with st.expander("What am I looking at?", icon=":material/help:"):
    st.markdown(
        "The network is tested on images it never trained on (the **test set**): that is "
        "the honest measure of what it learned.\n\n"
        "* **Confusion matrix**: each row is a true class, each column the class the network "
        "chose. The diagonal holds the correct answers; a bright cell off the diagonal is a "
        "mix-up it makes often (4 taken for 9, shirt for T-shirt ...).\n"
        "* **Precision** of a class: of the images the network *called* that class, the "
        "share that really are. **Recall**: of the images that *are* that class, the share "
        "it found.\n"
        "* **Mistakes**: the test images it got wrong with the highest confidence first. "
        "Some are hard even for people; some show what the network has not understood.\n"
        "* **Compare runs**: every saved run side by side, with its settings and learning "
        "curves, to see which change helped."
    )

got = inside.model_or_explain(
    "evaluate",
    "Here you will see how well it does on test images, which classes it confuses, "
    "and how your runs compare.",
)
if got is None:
    st.stop()
model, info = got

dataset = None
try:
    dataset = state.load_dataset(info["dataset"]) if info.get("dataset") else None
except Exception as e:
    st.warning(f"The dataset {info.get('dataset')!r} could not be loaded ({e}).")
if dataset is not None and tuple(dataset.input_shape) != tuple(info.get("input_shape") or ()):
    st.warning("The loaded dataset does not match this model's input shape.")
    dataset = None

tab_test, tab_runs = st.tabs(["Test set", "Compare runs"])

# -- this model on the test set -------------------------------------------------------------
with tab_test:
    if dataset is None:
        st.info("Testing needs the model's dataset, which is not available here.")
    else:
        timer = inside.Timer()
        n_test = len(dataset.y_test)
        subset = None
        t1, t2 = st.columns([3, 2])
        if n_test > inside.EVAL_QUICK:
            with t1:
                full = st.toggle(
                    f"Use all {n_test:,} test images",
                    value=False,
                    key="eval.full",
                    help=f"Off: a fixed random {inside.EVAL_QUICK:,} of them, much faster on "
                    "this CPU. The accuracy of the whole set is within about a percent.",
                )
            if not full:
                subset = inside.quick_subset(n_test)
        X, y = dataset.X_test, dataset.y_test
        raw = dataset.raw_test
        if subset is not None:
            X, y, raw = X[subset], y[subset], raw[subset]
        # While a run trains, keep the evaluated weights until the user asks for newer ones:
        # a test pass costs more than a redraw, and numbers should not jump under the eyes.
        key = inside.model_key(info, model)
        kept = st.session_state.get("eval.result")
        fresh = True
        if inside.is_live(info):
            with t2:
                again = st.button(
                    "Evaluate the latest weights", icon=":material/refresh:", key="eval.refresh"
                )
            fresh = (
                again
                or kept is None
                or not kept[0].startswith(f"run:{info['run_id']}:")
                or kept[1] != len(y)
            )
        if fresh:
            probs = inside.evaluate_cached(model, key, info["dataset"], X, y)
            st.session_state["eval.result"] = (key, len(y), probs)
        else:
            key, _, probs = kept
        pred = probs.argmax(axis=1)
        names = list(info.get("class_names") or dataset.class_names)
        k = len(names)
        eps = 1e-12
        loss = float(-np.mean(np.log(probs[np.arange(len(y)), y] + eps)))
        acc = float(np.mean(pred == y))
        step = key.rsplit(":", 1)[-1]
        m1, m2, m3, m4 = st.columns(4)
        m1.metric("Test accuracy", f"{acc * 100:.2f}%")
        m2.metric("Test loss", f"{loss:.4f}", help="Mean cross-entropy on the test set.")
        m3.metric("Test images", f"{len(y):,}")
        m4.metric("Mistakes", f"{int((pred != y).sum()):,}")
        if info.get("source") == "run":
            st.caption(
                f"Weights of step {step} · {info.get('label', '')}"
                + (" · training goes on" if inside.is_live(info) else "")
            )

        cm = confusion_matrix(y, pred, k)
        pr = precision_recall(cm)
        # Stacked, not side by side: a 10x10 matrix with its numbers needs the full width
        # of a projector-sized screen.
        norm = st.segmented_control(
            "Show", ["counts", "% of true class"], default="counts", key="eval.norm"
        )
        fig = confusion_figure(cm, names, normalized=norm == "% of true class")
        table = pd.DataFrame(cm, index=pd.Index(names, name="true"), columns=names)
        show_chart(fig, key="eval.cm", data=table.reset_index(), filename="confusion-matrix")
        worst = int(np.nanargmin(np.where(np.isnan(pr["recall"]), np.inf, pr["recall"])))
        off = cm.astype(float).copy()
        np.fill_diagonal(off, -1)
        ti, pj = np.unravel_index(int(np.argmax(off)), off.shape)
        if off[ti, pj] > 0:
            st.caption(
                f"Hardest class to find: **{names[worst]}** (recall "
                f"{pr['recall'][worst] * 100:.0f}%). Most frequent mix-up: "
                f"**{names[ti]}** taken for **{names[pj]}** ({int(cm[ti, pj])} times)."
            )
        fig = precision_recall_figure(pr, names)
        show_chart(
            fig,
            key="eval.pr",
            filename="precision-recall",
            data={
                "class": names,
                "precision": pr["precision"],
                "recall": pr["recall"],
                "f1": pr["f1"],
                "support": pr["support"],
            },
        )

        st.subheader("Most confident mistakes")
        order = misclassified_by_confidence(probs, y)
        if len(order) == 0:
            st.success("No mistakes on the test set.")
        else:
            g1, g2 = st.columns([2, 1])
            with g1:
                only = st.selectbox(
                    "True class",
                    ["all classes", *range(k)],
                    format_func=lambda c: c if isinstance(c, str) else names[c],
                    key="eval.gallery_class",
                )
            with g2:
                n_show = st.select_slider(
                    "How many", [8, 16, 24, 32, 48, 64], value=24, key="eval.gallery_n"
                )
            if not isinstance(only, str):
                order = order[y[order] == only]
            order = order[:n_show]
            if len(order) == 0:
                st.caption("No mistakes on this class.")
            else:
                conf = probs[order, pred[order]]
                fig = gallery_figure(raw[order], y[order], pred[order], conf, names)
                show_chart(
                    fig,
                    key="eval.gallery",
                    filename="mistakes",
                    data={
                        "test_index": order,
                        "true": [names[i] for i in y[order]],
                        "predicted": [names[i] for i in pred[order]],
                        "confidence": conf,
                    },
                )
        st.session_state["eval.ms"] = timer.ms()

# -- all runs compared -------------------------------------------------------------------------
with tab_runs:
    try:
        runs = state.list_runs()
    except Exception as e:
        runs = []
        st.warning(f"The saved runs could not be listed ({e}).")
    if not runs:
        st.info("No saved runs yet: every run you train is kept here for comparison.")
    else:
        rows = []
        for r in runs:
            cfg, m = r["config"], r["metrics"]
            convs = sum(1 for layer in cfg.arch if layer.get("type") == "Conv2D")
            dense = sum(1 for layer in cfg.arch if layer.get("type") == "Dense")
            rows.append(
                {
                    "run": r["name"],
                    "status": r["status"],
                    "dataset": cfg.dataset,
                    "layers": f"{convs} conv + {dense} dense",
                    # Folded columns: the table must fit a projector's width without scrolling.
                    "optimizer, lr": f"{cfg.optimizer} {cfg.lr:g}"
                    + ("" if cfg.schedule == "constant" else f", {cfg.schedule}"),
                    "batch × epochs": f"{cfg.batch_size} × {cfg.epochs}",
                    "train loss": m.get("recent_loss", m.get("train_loss")),
                    "val accuracy": m.get("val_accuracy"),
                    "val loss": m.get("val_loss"),
                    "steps": m.get("steps"),
                }
            )
        table = pd.DataFrame(rows)
        st.dataframe(
            table,
            hide_index=True,
            width="stretch",
            column_config={
                "val accuracy": st.column_config.ProgressColumn(
                    "val accuracy", format="percent", min_value=0.0, max_value=1.0
                ),
                "val loss": st.column_config.NumberColumn(format="%.4f"),
                "train loss": st.column_config.NumberColumn(
                    format="%.4f", help="Mean training loss of the last 50 steps."
                ),
            },
        )
        labels = {r["run_id"]: f"{r['name']} ({r['run_id'][-6:]})" for r in runs}
        chosen = st.multiselect(
            "Runs to overlay",
            list(labels),
            default=list(labels)[:4],
            format_func=labels.get,
            key="eval.runs",
            max_selections=8,
        )
        c1, c2 = st.columns([2, 2])
        with c1:
            metric = st.selectbox(
                "Curve",
                [
                    "training loss (per step)",
                    "validation accuracy (per epoch)",
                    "validation loss (per epoch)",
                ],
                key="eval.metric",
            )
        with c2:
            smoothing = st.slider("Smoothing", 0.0, 0.95, 0.6, 0.05, key="eval.smooth")
        curves = {}
        by_id = {r["run_id"]: r for r in runs}
        for rid in chosen:
            try:
                hist = by_id[rid]["history"]()
            except Exception:
                hist = None
            if hist is None or len(hist) == 0:
                continue
            if metric.startswith("training"):
                curves[labels[rid]] = (hist.array("step"), hist.array("loss"))
            else:
                key_ = "val_accuracy" if "accuracy" in metric else "val_loss"
                curves[labels[rid]] = (hist.epoch_array("epoch"), hist.epoch_array(key_))
        if curves:
            is_acc = "accuracy" in metric
            fig = runs_figure(
                curves,
                metric=metric.split(" (")[0],
                x_title="step" if metric.startswith("training") else "epoch",
                log_y=not is_acc,
                smoothing=smoothing if metric.startswith("training") else 0.0,
                percent=is_acc,
            )
            data = {}
            for name, (xs, ys) in curves.items():
                data[f"{name} x"] = xs
                data[f"{name} y"] = ys
            show_chart(fig, key="eval.runs_chart", data=data, filename="runs-compared")
        elif chosen:
            st.caption("The chosen runs have no curves yet.")

view_math("evaluate", classes=len(info.get("class_names") or []))
