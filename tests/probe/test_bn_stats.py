"""``--bn-reestimate``: every BatchNorm's running statistics become the average over the probe's
training images (normalised as the probe feeds them), the weights stay, eval mode comes back."""
import torch

from decon_d2.probe.bn_stats import reestimate_bn


def test_running_stats_become_the_images_statistics():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                              torch.nn.Conv2d(4, 2, 1), torch.nn.BatchNorm2d(2)).eval()
    weights = {k: v.clone() for k, v in net.state_dict().items() if "running" not in k
               and "num_batches" not in k}
    images = torch.randint(0, 256, (10, 3, 8, 8), dtype=torch.uint8)
    mean, std = [120.0, 110.0, 100.0], [60.0, 50.0, 40.0]
    assert reestimate_bn(net, images, mean, std, batch_size=4) == 2
    assert not net.training
    x = (images.float() - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    conv = net[0](x)  # the first norm's input, all 10 images at once
    assert torch.allclose(net[1].running_mean, conv.mean((0, 2, 3)), atol=1e-4)
    for k, v in weights.items():
        assert torch.equal(net.state_dict()[k], v), k
    # BGR weights see the channels flipped
    flipped = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4)).eval()
    flipped[0].load_state_dict(net[0].state_dict())
    reestimate_bn(flipped, images, mean, std, bgr=True)
    assert torch.allclose(flipped[1].running_mean, net[0](x.flip(1)).mean((0, 2, 3)), atol=1e-4)
