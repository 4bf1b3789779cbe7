"""GLAMOR and Counter-GLAMOR: the attention modules by hand, the channel mask and its swap, the
feature path (no dense layer, layer norm), gradients, losses and the registered builders."""

import pytest
import torch
from torch import nn

from mtmc.reid.modeling import build_model
from mtmc.reid.modeling.layers.attention import (
    CBAM,
    ChannelAttention,
    GlamorPartAttention,
    GlobalAttention,
    LocalAttention,
    SpatialAttention,
)
from mtmc.reid.modeling.losses import batch_hard_triplet, cross_entropy_ls
from mtmc.reid.modeling.meta_arch.glamor import Glamor

IMAGES = (3, 64, 64)


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def tiny_batch() -> dict[str, torch.Tensor]:
    """P = 2 identities x K = 2 images, 64 x 64."""
    torch.manual_seed(0)
    return {"images": torch.randn(4, *IMAGES), "pids": torch.tensor([0, 0, 1, 1])}


def test_global_attention_gates_each_channel_and_pixel():
    torch.manual_seed(0)
    attention = GlobalAttention(4)
    x = torch.randn(2, 4, 5, 6)
    hidden = nn.functional.leaky_relu(nn.functional.conv2d(x, attention.gate[0].weight, padding=1))
    gate = torch.sigmoid(nn.functional.conv2d(hidden, attention.gate[2].weight, padding=1))
    assert torch.allclose(attention(x), x * gate, atol=1e-6)
    # a map per channel, unlike CBAM's shared one: channels of the gate differ at the same pixel
    assert gate.std(dim=1).mean() > 0
    with torch.no_grad():
        attention.gate[2].weight.zero_()
    assert torch.allclose(attention(x), 0.5 * x)


def test_cbam_channel_and_spatial_attention_by_hand():
    x = torch.tensor([[[[1.0, 3.0]], [[-2.0, 0.0]]]])  # (1, 2, 1, 2)
    spatial = SpatialAttention(kernel_size=1)
    with torch.no_grad():
        spatial.conv.weight.copy_(torch.tensor([1.0, 2.0]).view(1, 2, 1, 1))  # mean + 2 max over channels
    expected = torch.sigmoid(torch.tensor([-0.5 + 2 * 1.0, 1.5 + 2 * 3.0])).view(1, 1, 1, 2)
    assert torch.allclose(spatial(x), x * expected)

    channel = ChannelAttention(2, reduction=2)  # one hidden unit
    with torch.no_grad():
        channel.mlp[0].weight.copy_(torch.tensor([1.0, 0.0]).view(1, 2, 1, 1))
        channel.mlp[2].weight.copy_(torch.tensor([1.0, -1.0]).view(2, 1, 1, 1))
    # avg pool (2, -1) -> relu(2) = 2; max pool (3, 0) -> 3; MLP outputs summed: (5, -5)
    expected = torch.sigmoid(torch.tensor([5.0, -5.0])).view(1, 2, 1, 1)
    assert torch.allclose(channel(x), x * expected)

    cbam = CBAM(2, reduction=2, kernel_size=1)
    cbam.channel.load_state_dict(channel.state_dict())
    cbam.spatial.load_state_dict(spatial.state_dict())
    assert torch.allclose(cbam(x), spatial(channel(x)))


@pytest.mark.parametrize("kind", ["glamor", "cbam"])
def test_local_attention_mask_puts_local_features_in_the_first_half_and_counter_in_the_second(kind):
    torch.manual_seed(0)
    channels, half = 7, 3  # floor(C / 2)
    glamor = LocalAttention(channels, kind)
    counter = LocalAttention(channels, kind, counter=True)
    counter.load_state_dict(glamor.state_dict())
    global_features = torch.rand(2, channels, 6, 6)
    local_features = glamor.attention(global_features)
    assert not torch.allclose(local_features, global_features)

    merged = glamor(global_features)
    assert torch.equal(merged[:, :half], local_features[:, :half])
    assert torch.equal(merged[:, half:], global_features[:, half:])
    swapped = counter(global_features)
    assert torch.equal(swapped[:, :half], global_features[:, :half])
    assert torch.equal(swapped[:, half:], local_features[:, half:])
    assert glamor.local_channels.flatten().tolist() == [1.0] * half + [0.0] * (channels - half)
    assert counter.local_channels.flatten().tolist() == [0.0] * half + [1.0] * (channels - half)


def test_local_attention_kinds():
    assert isinstance(LocalAttention(8, "glamor").attention, GlamorPartAttention)
    assert isinstance(LocalAttention(8, "cbam").attention, CBAM)


def test_shapes_in_train_and_eval_and_the_inference_feature_is_layer_normed():
    torch.manual_seed(0)
    model = Glamor(num_classes=2)
    images = tiny_batch()["images"]
    outputs = model.train()(images)
    assert outputs["features"].shape == (4, 512)
    assert outputs["normalised"].shape == (4, 512)
    assert outputs["logits"].shape == (4, 2)
    with torch.no_grad():
        feature = model.eval()(images)
    assert feature.shape == (4, model.feature_dim) == (4, 512)
    # group norm everywhere: train and eval give the same feature, the one after the layer norm
    assert torch.allclose(feature, outputs["normalised"], atol=1e-5)
    assert torch.allclose(feature.mean(1), torch.zeros(4), atol=1e-5)
    assert torch.allclose(feature.var(1, unbiased=False), torch.ones(4), atol=1e-3)
    assert not torch.allclose(outputs["features"].mean(1), torch.zeros(4), atol=1e-3)
    with torch.no_grad():
        assert model(images[:1]).shape == (1, 512)


def test_no_dense_layer_on_the_feature_path_and_group_norm_in_the_resnet():
    model = Glamor(num_classes=5)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert linears == [model.classifier]
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    group_norms = [m for m in model.backbone.modules() if isinstance(m, nn.GroupNorm)]
    assert group_norms and all(m.num_channels // m.num_groups == 16 for m in group_norms)
    assert isinstance(model.norm, nn.LayerNorm)
    assert model.classifier.bias is None


def test_glamor_r18_parameter_count_is_near_the_papers_11m():
    model = Glamor(num_classes=576)
    without_classifier = sum(p.numel() for n, p in model.named_parameters() if not n.startswith("classifier"))
    trunk = sum(p.numel() for p in model.backbone.parameters())
    assert trunk == 11_176_512
    assert without_classifier == trunk + 2 * 64 * 64 * 9 + (2 * 64 * 64 * 9 + 2 * 64 * 4) + 2 * 512
    assert 11.0e6 < without_classifier < 11.5e6


def test_counter_glamor_swaps_the_mask_inside_the_model():
    torch.manual_seed(0)
    glamor = build_model("glamor", num_classes=2).eval()
    counter = build_model("counter-glamor", num_classes=2, depth=18, local="glamor").eval()
    counter.load_state_dict(glamor.state_dict())  # same weights: only the mask differs
    seen: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    for name, model in (("glamor", glamor), ("counter", counter)):
        model.local_attention.register_forward_hook(
            lambda _module, args, out, name=name: seen.update({name: (args[0], out)})
        )
    images = tiny_batch()["images"]
    with torch.no_grad():
        assert not torch.allclose(glamor(images), counter(images))
    half = 32  # layer1 of ResNet18: 64 channels
    global_in, merged = seen["glamor"]
    assert torch.equal(merged[:, half:], global_in[:, half:])
    assert not torch.allclose(merged[:, :half], global_in[:, :half])
    global_in, merged = seen["counter"]
    assert torch.equal(merged[:, :half], global_in[:, :half])
    assert not torch.allclose(merged[:, half:], global_in[:, half:])


@pytest.mark.parametrize("local", ["glamor", "cbam"])
def test_gradients_reach_both_attention_modules(local):
    torch.manual_seed(0)
    model = Glamor(num_classes=2, local=local).train()
    batch = tiny_batch()
    sum(model.losses(model(batch["images"]), batch).values()).backward()
    for module in (model.global_attention, model.local_attention, model.backbone.stem[0]):
        for name, parameter in module.named_parameters():
            assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
    assert model.norm.bias.grad is None  # no shift after the layer norm


def test_counter_glamor_weights_triplet_and_softmax_ten_to_one():
    torch.manual_seed(0)
    model = build_model("counter-glamor", num_classes=2, depth=18).train()
    batch = tiny_batch()
    outputs = model(batch["images"])
    losses = model.losses(outputs, batch)
    assert set(losses) == {"triplet", "softmax"}
    assert torch.allclose(losses["triplet"], 10 * batch_hard_triplet(outputs["features"], batch["pids"], 0.3))
    assert torch.allclose(losses["softmax"], cross_entropy_ls(outputs["logits"], batch["pids"], 0.2))


def test_losses_are_finite_and_decrease_over_a_few_adam_steps():
    torch.manual_seed(0)
    model = build_model("glamor", num_classes=2).train()
    batch = tiny_batch()
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)  # §6.2
    history = []
    for _ in range(6):
        losses = model.losses(model(batch["images"]), batch)
        assert all(torch.isfinite(value) for value in losses.values())
        history.append({name: value.item() for name, value in losses.items()})
        optimizer.zero_grad()
        sum(losses.values()).backward()
        optimizer.step()
    first, last = history[0], history[-1]
    assert first["triplet"] > 0 and last["triplet"] < first["triplet"], history
    assert last["softmax"] < first["softmax"] - 0.01, history


def test_registered_names_build_with_their_papers_recipes():
    glamor = build_model("glamor", num_classes=3)
    assert type(glamor) is Glamor
    assert (glamor.backbone.depth, glamor.backbone.norm, glamor.input_size) == (18, "gn", (208, 208))
    assert (glamor.local_attention.kind, glamor.local_attention.counter) == ("glamor", False)
    recipe = (glamor.triplet_weight, glamor.softmax_weight, glamor.margin, glamor.label_smoothing)
    assert recipe == (1, 1, 0.3, 0.2)

    counter = build_model("counter-glamor", num_classes=3)
    assert type(counter) is Glamor
    assert (counter.backbone.depth, counter.feature_dim, counter.input_size) == (50, 2048, (128, 256))
    assert (counter.local_attention.kind, counter.local_attention.counter) == ("cbam", True)
    assert (counter.triplet_weight, counter.softmax_weight) == (10, 1)
    assert counter.local_attention.local_channels.flatten()[128:].sum() == 128  # layer1 of R50: 256
    with torch.no_grad():
        assert counter.eval()(torch.randn(1, *IMAGES)).shape == (1, 2048)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"local": "se"}, "glamor, cbam"),
        ({"norm": "ln"}, "'bn' or 'gn'"),
        ({"depth": 34}, "18 or 50"),
        ({"num_classes": 0}, ">= 1"),
        ({"label_smoothing": 1.0}, r"\[0, 1\)"),
        ({"margin": 0.0}, "> 0, or None"),
        ({"triplet_weight": -1.0}, ">= 0"),
        ({"input_size": (0, 64)}, "both >= 1"),
    ],
)
def test_invalid_options_name_the_valid_values(options, message):
    with pytest.raises(ValueError, match=message):
        build_model("glamor", **{"num_classes": 2, **options})


def test_invalid_local_attention_kind():
    with pytest.raises(ValueError, match="glamor, cbam"):
        LocalAttention(8, "dbam")
    with pytest.raises(ValueError, match=">= 2"):
        LocalAttention(1)


def test_mobilenetv2_backbone_puts_the_attention_at_the_same_places():
    torch.manual_seed(0)
    model = Glamor(num_classes=3, backbone="mobilenetv2").eval()
    first_conv, _, first_block, _ = model.cuts()
    assert first_conv is model.backbone[0][0] and first_block is model.backbone[1]
    assert model.global_attention.gate[0].in_channels == 32  # MobileNetV2's stem conv
    assert model.local_attention.local_channels.numel() == 16  # its first inverted-residual block
    images = tiny_batch()["images"]
    with torch.no_grad():
        assert model.feature_map(images).shape == (4, 1280, 4, 4)  # output stride 16: last stride 1
        assert model(images).shape == (4, model.feature_dim) == (4, 1280)
    without_classifier = sum(p.numel() for n, p in model.named_parameters() if not n.startswith("classifier"))
    assert 2.2e6 < without_classifier < 2.3e6  # under 5 MB in fp16
    assert [name for name, _ in model.named_modules() if "global_attention" in name][:1] == ["global_attention"]


def test_pretrained_mobilenetv2_starts_as_exactly_the_imagenet_network():
    """Zero-initialised gates and the constants folded into the next layer: with the stride put back,
    the pooled feature map is ImageNet MobileNetV2's pooled feature, both local attention kinds."""
    from mtmc.reid.modeling.backbones.mobilenet import mobilenetv2_features

    reference = mobilenetv2_features().eval()
    images = tiny_batch()["images"]
    for local, counter in (("glamor", False), ("cbam", True)):
        model = Glamor(num_classes=3, backbone="mobilenetv2", pretrained=True, local=local, counter=counter).eval()
        model.backbone[14].conv[1][0].stride = (2, 2)
        with torch.no_grad():
            ours, theirs = model.feature_map(images).mean(dim=(2, 3)), reference(images)
        assert torch.allclose(ours, theirs, atol=1e-3 * float(theirs.abs().max())), (local, counter)
    scratch = Glamor(num_classes=3, backbone="mobilenetv2").eval()
    scratch.backbone[14].conv[1][0].stride = (2, 2)
    with torch.no_grad():
        assert not torch.allclose(scratch.feature_map(images).mean(dim=(2, 3)), reference(images), atol=1e-2)


def test_pretrained_gates_learn_after_their_zero_start():
    torch.manual_seed(0)
    model = Glamor(num_classes=2, backbone="mobilenetv2", pretrained=True).train()
    batch = tiny_batch()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(2):  # the first step moves the zeroed last convs, the second reaches the first ones
        optimizer.zero_grad()
        sum(model.losses(model(batch["images"]), batch).values()).backward()
        optimizer.step()
    for module in (model.global_attention, model.local_attention):
        for name, parameter in module.named_parameters():
            assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_per_camera_losses_take_negatives_and_classes_from_the_images_camera_only():
    from mtmc.reid.modeling.losses.triplet import pairwise_euclidean

    torch.manual_seed(0)
    model = Glamor(num_classes=4, depth=18, per_camera=True).train()
    batch = {**tiny_batch(), "pids": torch.tensor([0, 0, 3, 3]), "camids": torch.tensor([5, 5, 7, 7])}
    outputs = model(batch["images"])
    losses = model.losses(outputs, batch)
    # one identity per camera: no same-camera negative, so no triplet; one class per camera: softmax 0
    assert losses["triplet"] == 0 and torch.allclose(losses["softmax"], torch.zeros(()), atol=1e-6)
    assert {camera: seen.tolist() for camera, seen in model.classes_in_camera.items()} == {
        5: [True, False, False, False],
        7: [False, False, False, True],
    }
    plain = Glamor(num_classes=4, depth=18).train()
    plain.load_state_dict(model.state_dict())
    global_losses = plain.losses(outputs, batch)
    assert global_losses["triplet"] > 0 and global_losses["softmax"] > 0.5

    # identity 0 was merged across cameras 5 and 7: a positive across cameras, negatives from camera 5 only
    model.classes_in_camera.clear()
    batch["pids"], batch["camids"] = torch.tensor([0, 0, 0, 1]), torch.tensor([5, 5, 7, 5])
    losses = model.losses(outputs, batch)
    dist = pairwise_euclidean(outputs["features"])
    hinge = [(max(dist[0, 1], dist[0, 2]) - dist[0, 3] + 0.3).clamp_min(0),
             (max(dist[1, 0], dist[1, 2]) - dist[1, 3] + 0.3).clamp_min(0)]  # fmt: skip
    assert torch.allclose(losses["triplet"], sum(hinge) / 2)  # anchor 2 has no negative in camera 7
    camera_5 = cross_entropy_ls(outputs["logits"][[0, 1, 3]][:, :2], torch.tensor([0, 0, 1]), 0.2)
    assert torch.allclose(losses["softmax"], 0.75 * camera_5)  # camera 7's one class costs nothing
    with pytest.raises(ValueError, match="need the batch's camids"):
        model.losses(outputs, {"pids": batch["pids"]})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"backbone": "vgg"}, "resnet, mobilenetv2"),
        ({"backbone": "mobilenetv2", "depth": 18}, "leave them unset"),
        ({"backbone": "mobilenetv2", "norm": "gn"}, "leave them unset"),
        ({"pretrained": True}, "no ImageNet ResNet weights"),
    ],
)
def test_invalid_backbone_options(options, message):
    with pytest.raises(ValueError, match=message):
        build_model("glamor", num_classes=2, **options)


def test_counter_glamor_on_mobilenetv2_drops_the_resnet_depth_of_its_recipe():
    model = build_model("counter-glamor", num_classes=2, backbone="mobilenetv2")
    assert model.backbone_name == "mobilenetv2" and model.local_attention.counter
    assert model.input_size == (128, 256)
