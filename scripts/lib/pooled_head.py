"""The shape of medpipe's 2-D classifiers: a backbone, average pooling over space, dropout and a linear
head, with the two halves as TorchScript methods that medpipe reads for embeddings and Grad-CAM."""
import torch
from torch import nn


class PooledHead(nn.Module):
    """Subclasses set self.features (the backbone), self.dropout and self.head."""

    @torch.jit.export
    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    @torch.jit.export
    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(features.mean(dim=(2, 3))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))
