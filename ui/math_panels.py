"""Collapsible "the math" panels: forward and backward formulas with the current shapes.

    from ui.math_panels import layer_math, view_math
    layer_math("Conv2D", in_shape=(1, 28, 28), out_shape=(6, 24, 24),
               param_shapes={"weight": (6, 1, 5, 5), "bias": (6,)})
    view_math("feature_maps")

Each panel is an ``st.expander`` (collapsed) with the forward and backward formulas
(``st.latex``), the shapes of the current network, and the netcore function that computes it,
whose source is shown with ``inspect.getsource``: the formula on screen and the code that runs
are one click apart. Do not call these inside another expander (Streamlit forbids nesting).

The formulas live in plain dictionaries (`LAYER_MATH`, `VIEW_MATH`) so tests can check them
without Streamlit.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from dataclasses import dataclass, field
from pathlib import Path

import streamlit as st


@dataclass(frozen=True)
class Math:
    """The content of one panel.

    forward, backward : LaTeX lines (one ``st.latex`` each)
    symbols : parameter name -> symbol used in the formulas, e.g. ``{"weight": "W"}``
    notes : one or two plain sentences under the formulas (markdown)
    code : netcore names whose source the panel offers, e.g. ``"Conv2D.backward"``
    """

    title: str
    forward: tuple[str, ...]
    backward: tuple[str, ...] = ()
    symbols: dict = field(default_factory=dict)
    notes: str = ""
    code: tuple[str, ...] = ()


_BN_BACKWARD = (
    r"\hat{x} = \frac{x-\mu_B}{\sqrt{\sigma_B^2+\epsilon}},\quad "
    r"\frac{\partial L}{\partial \gamma} = \sum \frac{\partial L}{\partial y}\,\hat{x},\quad "
    r"\frac{\partial L}{\partial \beta} = \sum \frac{\partial L}{\partial y}",
    r"\frac{\partial L}{\partial x} = \frac{\gamma}{m\sqrt{\sigma_B^2+\epsilon}}"
    r"\Big(m\,\frac{\partial L}{\partial y} - \sum \frac{\partial L}{\partial y}"
    r" - \hat{x}\sum \frac{\partial L}{\partial y}\,\hat{x}\Big)",
)

LAYER_MATH: dict[str, Math] = {
    "Dense": Math(
        "Dense (fully connected)",
        forward=(r"y = x\,W^{\top} + b \qquad y_{n,o} = \sum_{k} W_{o,k}\,x_{n,k} + b_o",),
        backward=(
            r"\frac{\partial L}{\partial W} = \Big(\frac{\partial L}{\partial y}\Big)^{\top} x"
            r"\qquad \frac{\partial L}{\partial b} = \sum_n \frac{\partial L}{\partial y_n}",
            r"\frac{\partial L}{\partial x} = \frac{\partial L}{\partial y}\,W",
        ),
        symbols={"weight": "W", "bias": "b"},
        notes="Every output is a weighted sum of every input. W has one row per output "
        "neuron, as in PyTorch: W is (out_features, in_features).",
        code=("Dense.forward", "Dense.backward"),
    ),
    "Conv2D": Math(
        "Conv2D (convolution)",
        forward=(
            r"z_{n,o,i,j} = b_o + \sum_{c}\sum_{u=0}^{k_H-1}\sum_{v=0}^{k_W-1}"
            r"W_{o,c,u,v}\;x^{\text{pad}}_{n,c,\,iS+u,\,jS+v}",
            r"H_{\text{out}} = \Big\lfloor \frac{H + 2P - k_H}{S} \Big\rfloor + 1",
        ),
        backward=(
            r"\frac{\partial L}{\partial W_{o,c,u,v}} = \sum_{n,i,j}"
            r"\frac{\partial L}{\partial z_{n,o,i,j}}\;x^{\text{pad}}_{n,c,\,iS+u,\,jS+v}"
            r"\qquad \frac{\partial L}{\partial b_o} = \sum_{n,i,j}"
            r"\frac{\partial L}{\partial z_{n,o,i,j}}",
            r"\frac{\partial L}{\partial x^{\text{pad}}_{n,c,\,iS+u,\,jS+v}} \mathrel{+}= "
            r"\sum_o W_{o,c,u,v}\;\frac{\partial L}{\partial z_{n,o,i,j}}",
        ),
        symbols={"weight": "W", "bias": "b"},
        notes="One kernel slides over the input (S = stride, P = zero padding). The fast "
        "path gathers every window into a matrix (im2col) and does one matrix product; "
        "the backward pass scatters the window gradients back (col2im).",
        code=("Conv2D.forward", "Conv2D.backward", "conv2d_naive"),
    ),
    "MaxPool2D": Math(
        "MaxPool2D",
        forward=(r"y_{n,c,i,j} = \max_{0 \le u,v < k} x_{n,c,\,iS+u,\,jS+v}",),
        backward=(
            r"\frac{\partial L}{\partial x_{n,c,r,s}} = \begin{cases}"
            r"\frac{\partial L}{\partial y_{n,c,i,j}} & (r,s) = \arg\max \text{ of window } (i,j)"
            r"\\ 0 & \text{otherwise}\end{cases}",
        ),
        notes="Only the winner of each window influenced the output, so only the winner gets "
        "a gradient. Ties (common on black backgrounds) go to the first maximum.",
        code=("MaxPool2D.forward", "MaxPool2D.backward", "maxpool2d_naive"),
    ),
    "AvgPool2D": Math(
        "AvgPool2D",
        forward=(r"y_{n,c,i,j} = \frac{1}{k^2}\sum_{u,v} x_{n,c,\,iS+u,\,jS+v}",),
        backward=(
            r"\frac{\partial L}{\partial x_{n,c,\,iS+u,\,jS+v}} \mathrel{+}= "
            r"\frac{1}{k^2}\,\frac{\partial L}{\partial y_{n,c,i,j}}",
        ),
        notes="Every cell of a window contributed equally, so each gets an equal share.",
        code=("AvgPool2D.forward", "AvgPool2D.backward"),
    ),
    "Flatten": Math(
        "Flatten",
        forward=(r"y_{n,\;c H W + h W + w} = x_{n,c,h,w}",),
        backward=(
            r"\frac{\partial L}{\partial x} = \operatorname{reshape}"
            r"\Big(\frac{\partial L}{\partial y},\ (N, C, H, W)\Big)",
        ),
        notes="No arithmetic: the same numbers, read as one long vector per sample.",
        code=("Flatten.forward", "Flatten.backward"),
    ),
    "Dropout": Math(
        "Dropout",
        forward=(
            r"\text{train: } m \sim \operatorname{Bernoulli}(1-p),\quad "
            r"y = \frac{m \odot x}{1-p} \qquad \text{eval: } y = x",
        ),
        backward=(
            r"\frac{\partial L}{\partial x} = \frac{m}{1-p}\odot"
            r"\frac{\partial L}{\partial y}",
        ),
        notes="Dividing by 1-p keeps the expected output equal in training and evaluation.",
        code=("Dropout.forward", "Dropout.backward"),
    ),
    "BatchNorm1D": Math(
        "BatchNorm1D",
        forward=(
            r"\mu_B = \frac{1}{m}\sum_n x_n,\quad \sigma_B^2 = \frac{1}{m}\sum_n"
            r"(x_n-\mu_B)^2,\quad y = \gamma\,\frac{x-\mu_B}{\sqrt{\sigma_B^2+\epsilon}}+\beta",
        ),
        backward=_BN_BACKWARD,
        symbols={"weight": r"\gamma", "bias": r"\beta"},
        notes="Statistics per feature over the batch (m = N). In evaluation the running "
        "averages replace the batch statistics.",
        code=("BatchNorm1D.forward", "BatchNorm1D.backward"),
    ),
    "BatchNorm2D": Math(
        "BatchNorm2D",
        forward=(
            r"\mu_c = \frac{1}{m}\sum_{n,h,w} x_{n,c,h,w},\quad "
            r"y = \gamma_c\,\frac{x-\mu_c}{\sqrt{\sigma_c^2+\epsilon}}+\beta_c",
        ),
        backward=_BN_BACKWARD,
        symbols={"weight": r"\gamma", "bias": r"\beta"},
        notes="Statistics per channel over batch and positions (m = N H W).",
        code=("BatchNorm2D.forward", "BatchNorm2D.backward"),
    ),
    "ReLU": Math(
        "ReLU",
        forward=(r"y = \max(0, x)",),
        backward=(
            r"\frac{\partial L}{\partial x} = \frac{\partial L}{\partial y}\odot"
            r"\mathbb{1}[x > 0]",
        ),
        notes="Passes the gradient where the input was positive, blocks it elsewhere.",
        code=("ReLU.forward", "ReLU.backward"),
    ),
    "LeakyReLU": Math(
        "LeakyReLU",
        forward=(r"y = \begin{cases} x & x > 0 \\ \alpha x & x \le 0 \end{cases}",),
        backward=(
            r"\frac{\partial L}{\partial x} = \frac{\partial L}{\partial y}\odot"
            r"\begin{cases} 1 & x > 0 \\ \alpha & x \le 0 \end{cases}",
        ),
        notes="A small slope alpha (negative_slope) keeps negative units learning.",
        code=("LeakyReLU.forward", "LeakyReLU.backward"),
    ),
    "Sigmoid": Math(
        "Sigmoid",
        forward=(r"y = \sigma(x) = \frac{1}{1+e^{-x}}",),
        backward=(
            r"\frac{\partial L}{\partial x} = \frac{\partial L}{\partial y}\odot"
            r"y\,(1-y)",
        ),
        notes="The slope is at most 1/4, so deep stacks of sigmoids shrink the gradient.",
        code=("Sigmoid.forward", "Sigmoid.backward"),
    ),
    "Tanh": Math(
        "Tanh",
        forward=(r"y = \tanh x = \frac{e^{x}-e^{-x}}{e^{x}+e^{-x}}",),
        backward=(
            r"\frac{\partial L}{\partial x} = \frac{\partial L}{\partial y}\odot"
            r"(1-y^2)",
        ),
        code=("Tanh.forward", "Tanh.backward"),
    ),
    "Softmax": Math(
        "Softmax",
        forward=(r"y_k = \frac{e^{x_k - \max_j x_j}}{\sum_j e^{x_j - \max_j x_j}}",),
        backward=(
            r"\frac{\partial L}{\partial x} = y \odot \Big(\frac{\partial L}{\partial y}"
            r" - \sum_k \frac{\partial L}{\partial y_k}\,y_k\Big)",
        ),
        notes="Subtracting the maximum changes nothing mathematically and avoids overflow.",
        code=("Softmax.forward", "Softmax.backward"),
    ),
    "CrossEntropyLoss": Math(
        "CrossEntropyLoss (softmax + negative log-likelihood)",
        forward=(r"p = \operatorname{softmax}(z),\qquad L = -\frac{1}{N}\sum_n \log p_{n,\,t_n}",),
        backward=(
            r"\frac{\partial L}{\partial z_n} = \frac{1}{N}\big(p_n - "
            r"\operatorname{onehot}(t_n)\big)",
        ),
        notes="Fusing softmax with the loss gives this short, numerically safe gradient: "
        "predicted probability minus the truth.",
        code=("CrossEntropyLoss.forward", "CrossEntropyLoss.backward"),
    ),
}

VIEW_MATH: dict[str, Math] = {
    "filters": Math(
        "What a filter is",
        forward=(
            r"z_{o}(i,j) = \langle W_{o},\ x_{\text{patch}(i,j)} \rangle + b_o"
            r" = \lVert W_o\rVert\,\lVert x_{\text{patch}}\rVert\cos\theta + b_o",
        ),
        notes="A filter is the kernel W[o] drawn as a picture (zero-centred colours: blue "
        "negative, white zero, red positive). Its response is largest on patches that look "
        "like it: the dot product is a template match.",
        code=("Conv2D.forward",),
    ),
    "feature_maps": Math(
        "Feature maps",
        forward=(
            r"a^{(l)} = f_l\big(a^{(l-1)}\big),\qquad "
            r"\text{map } k \text{ of layer } l = a^{(l)}_{n,k,:,:}",
        ),
        notes="Each map is one channel of a layer's output for one image: where in the "
        "image that channel's pattern was found. Deeper maps are smaller and see a larger "
        "part of the input (their receptive field grows by k-1 per conv, x2 per pool).",
        code=("Sequential.forward",),
    ),
    "weights": Math(
        "Weights and their gradients",
        forward=(
            r"\text{SGD: } W \leftarrow W - \eta\,\frac{\partial L}{\partial W}",
            r"\text{He init: } W \sim \mathcal{N}\Big(0,\ \frac{2}{\text{fan}_{\text{in}}}\Big)",
        ),
        notes="Healthy training moves weights slowly: the update-to-weight ratio "
        "||eta dW|| / ||W|| is typically around 1e-3. Gradients near zero in early layers "
        "mean the signal does not reach them.",
        code=("SGD", "Adam.step"),
    ),
    "evaluate": Math(
        "Evaluation",
        forward=(
            r"\hat{y}_n = \arg\max_k p_{n,k},\qquad \text{accuracy} = \frac{1}{N}\sum_n "
            r"\mathbb{1}[\hat{y}_n = t_n]",
            r"C_{t,k} = \#\{n : t_n = t,\ \hat{y}_n = k\},\quad "
            r"\text{precision}_k = \frac{C_{k,k}}{\sum_t C_{t,k}},\quad "
            r"\text{recall}_k = \frac{C_{k,k}}{\sum_j C_{k,j}}",
        ),
        notes="Rows of the confusion matrix are the true class, columns the prediction.",
        code=("accuracy", "confusion_matrix", "precision_recall"),
    ),
    "playground": Math(
        "The MLP playground",
        forward=(
            r"\phi(x_1,x_2) = [x_1,\ x_2,\ x_1^2,\ x_2^2,\ x_1x_2,\ \sin x_1,\ \sin x_2]",
            r"h^{(l)} = f\big(W^{(l)} h^{(l-1)} + b^{(l)}\big),\qquad "
            r"p = \operatorname{softmax}\big(W^{(L)} h^{(L-1)} + b^{(L)}\big)",
            r"J = \text{CE}(p, t) + \lambda R(W),\quad R_{L2} = \tfrac{1}{2}\sum W^2,\quad "
            r"R_{L1} = \sum |W|",
        ),
        backward=(
            r"\frac{\partial J}{\partial W} = \frac{\partial\,\text{CE}}{\partial W} + "
            r"\lambda \begin{cases} W & L2 \\ \operatorname{sign}(W) & L1 \end{cases}",
            r"W \leftarrow W - \eta\,\frac{\partial J}{\partial W}",
        ),
        notes="The background colour is p(class) at every point of a grid over the plane; "
        "the boundary is where the classes are equally likely. Each small tile is one "
        "hidden neuron's output h over the same grid.",
        code=("Dense.forward", "Dense.backward", "build_mlp"),
    ),
    "conv_explained": Math(
        "One conv layer, ReLU and max-pool, forward and backward",
        forward=(
            r"z_{i,j} = b + \sum_{u,v} W_{u,v}\,x^{\text{pad}}_{iS+u,\,jS+v},\quad "
            r"a = \max(0,z),\quad p_{i,j} = \max_{\text{window}(i,j)} a",
        ),
        backward=(
            r"\frac{\partial L}{\partial a} = \frac{\partial L}{\partial p}"
            r"\text{ at each window's winner},\quad "
            r"\frac{\partial L}{\partial z} = \frac{\partial L}{\partial a}\odot\mathbb{1}[z>0]",
            r"\frac{\partial L}{\partial W_{u,v}} = \sum_{i,j}\frac{\partial L}{\partial z_{i,j}}"
            r"\,x^{\text{pad}}_{iS+u,\,jS+v},\qquad "
            r"\frac{\partial L}{\partial x_{r,c}} = \sum_{(i,j,u,v)\,:\,iS+u=r,\ jS+v=c}"
            r"\frac{\partial L}{\partial z_{i,j}}\,W_{u,v}",
        ),
        notes="The gradient of a weight is a convolution of the input with the output "
        "gradient; the gradient of the input is a 'full' convolution of the output gradient "
        "with the flipped kernel.",
        code=("forward", "backward", "conv2d_naive", "conv2d_backward_naive"),
    ),
    "train": Math(
        "one training step",
        forward=(
            r"L_B(\theta) = \frac{1}{|B|}\sum_{n \in B} \ell\big(f_\theta(x_n),\,t_n\big)"
            r"\qquad (B:\ \text{one batch of the shuffled training set})",
        ),
        backward=(
            r"g = \nabla_\theta L_B + \lambda\,\theta\qquad"
            r"\text{(backward pass, plus weight decay } \lambda)",
            r"\text{SGD + momentum: } v \leftarrow \mu v + g,\quad "
            r"\theta \leftarrow \theta - \eta\,v",
            r"\text{Adam: } m \leftarrow \beta_1 m + (1-\beta_1)g,\ "
            r"s \leftarrow \beta_2 s + (1-\beta_2)g^2,\ "
            r"\theta \leftarrow \theta - \eta\,\frac{m/(1-\beta_1^t)}"
            r"{\sqrt{s/(1-\beta_2^t)} + \epsilon}",
            r"\text{cosine schedule: } \eta_t = \eta_{\min} + \tfrac{1}{2}"
            r"(\eta - \eta_{\min})\big(1 + \cos(\pi t / T)\big)",
        ),
        notes="One step = one batch: forward, loss, backward, update. An epoch is one pass "
        "over the training set; the validation accuracy is measured on images the update "
        "never sees. AdamW applies the weight decay to the weights directly instead of "
        "adding it to g.",
        code=("Trainer.step", "SGD._update", "Adam.step", "CosineLR"),
    ),
    "gradient_check": Math(
        "Gradient check (finite differences)",
        forward=(
            r"\frac{\partial L}{\partial \theta_i} \approx "
            r"\frac{L(\theta + h\,e_i) - L(\theta - h\,e_i)}{2h}\qquad(\text{error } O(h^2))",
            r"\text{relative error} = \frac{\lvert g_{\text{backprop}} - g_{\text{numeric}}"
            r"\rvert}{\max\big(\lvert g_{\text{backprop}}\rvert + \lvert g_{\text{numeric}}"
            r"\rvert,\ \text{tiny}\big)}",
        ),
        notes="Done in float64: in float32 the rounding of L(theta +- h) swamps the "
        "difference. A correct backward pass gives relative errors below 1e-6; a bug "
        "(a flipped sign, a missing term) gives errors near 1.",
        code=("check_layer", "relative_error"),
    ),
}

_MODULES = (
    "netcore.layers",
    "netcore.activations",
    "netcore.losses",
    "netcore.functional",
    "netcore.model",
    "netcore.optim",
    "netcore.schedules",
    "netcore.train",
    "netcore.gradcheck",
    "netcore.metrics",
    "netcore.explain",
    "ui.playground",
)
"""Where `find_source` looks for a name, in order."""

_ROOT = Path(__file__).resolve().parents[1]


@functools.lru_cache(maxsize=256)  # the code does not change while the server runs
def find_source(name: str) -> tuple[str, str] | None:
    """Locate a netcore name such as ``"Conv2D.backward"`` or ``"conv2d_naive"``.

    Returns ``(label, source)`` with ``label`` like ``"netcore/layers.py — Conv2D.backward"``,
    or None when no module defines it (yet).
    """
    head, _, attr = name.partition(".")
    for mod_name in _MODULES:
        try:
            module = importlib.import_module(mod_name)
        except Exception:  # a module that does not exist or fails to import is just skipped
            continue
        obj = module.__dict__.get(head)
        if obj is None:
            continue
        if attr:
            obj = getattr(obj, attr, None)
            if obj is None:
                continue
        try:
            source = inspect.getsource(obj)
            path = Path(inspect.getsourcefile(obj)).resolve()
        except (OSError, TypeError):
            continue
        # The file that really defines it (layers.py may re-export Conv2D from conv.py).
        try:
            shown = path.relative_to(_ROOT).as_posix()
        except ValueError:
            shown = mod_name.replace(".", "/") + ".py"
        return f"{shown} — {name}", source
    return None


def format_shape(shape) -> str:
    """``(16, 6, 5, 5)`` -> ``"(16, 6, 5, 5)"``; a 1-tuple keeps no trailing comma."""
    return "(" + ", ".join(str(int(s)) for s in shape) + ")"


def shape_lines(math: Math, in_shape=None, out_shape=None, param_shapes=None) -> list[str]:
    """The shape lines of a panel, batch axis written as N: ``"x: (N, 1, 28, 28)"``."""
    lines = []
    if in_shape is not None:
        lines.append(f"input x: (N, {', '.join(str(int(s)) for s in in_shape)})")
    for name, shape in (param_shapes or {}).items():
        symbol = math.symbols.get(name, name)
        symbol = symbol.strip("\\") if symbol.startswith("\\") else symbol
        lines.append(f"{name} {symbol}: {format_shape(shape)}")
    if out_shape is not None:
        lines.append(f"output y: (N, {', '.join(str(int(s)) for s in out_shape)})")
    return lines


def _render(math: Math, label: str, shapes: list[str]) -> None:
    with st.expander(label, expanded=False, icon=":material/function:"):
        st.markdown("**Forward**")
        for line in math.forward:
            st.latex(line)
        if math.backward:
            st.markdown("**Backward** (the chain rule, from dL/dy to dL/dx and dL/dW)")
            for line in math.backward:
                st.latex(line)
        if shapes:
            st.markdown("**Shapes here:** " + " · ".join(f"`{s}`" for s in shapes))
        if math.notes:
            st.caption(math.notes)
        found = [f for f in (find_source(n) for n in math.code) if f is not None]
        if found:
            st.markdown("**Computed by** " + ", ".join(f"`{lab}`" for lab, _ in found))
            tabs = st.tabs([lab.split(" — ")[1] for lab, _ in found])
            for tab, (lab, source) in zip(tabs, found, strict=True):
                with tab:
                    st.caption(lab)
                    st.code(source, language="python")


def layer_math(layer_type: str, *, in_shape=None, out_shape=None, param_shapes=None) -> None:
    """Render the collapsed math panel of one layer type.

    Parameters
    ----------
    layer_type : a layer class name, e.g. ``"Conv2D"`` (unknown names show a short note)
    in_shape, out_shape : shapes of one sample, no batch axis, e.g. ``(1, 28, 28)``
    param_shapes : ``{"weight": (6, 1, 5, 5), "bias": (6,)}``
    """
    math = LAYER_MATH.get(layer_type)
    if math is None:
        st.caption(f"No math panel for layer type {layer_type!r} yet.")
        return
    shapes = shape_lines(math, in_shape, out_shape, param_shapes)
    label = f"The math: {math.title}"
    if in_shape is not None and out_shape is not None:
        label += f" · {format_shape(in_shape)} → {format_shape(out_shape)}"
    _render(math, label, shapes)


def view_math(view: str, **context) -> None:
    """Render the collapsed math panel of one view, e.g. ``view_math("feature_maps")``.

    Keyword arguments are shown as the current shapes/values, e.g.
    ``view_math("filters", weight=(6, 1, 5, 5))``.
    """
    math = VIEW_MATH.get(view)
    if math is None:
        st.caption(f"No math panel for view {view!r} yet.")
        return
    shapes = [f"{k}: {format_shape(v) if isinstance(v, tuple) else v}" for k, v in context.items()]
    _render(math, f"The math: {math.title}", shapes)
