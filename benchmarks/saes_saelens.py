"""Run by benchmarks/saes.py inside a scratch venv with torch and sae-lens (never imported by the
package): steps per second of one ReLU SAE (SAELens's StandardTrainingSAE, L1 coefficient 0.3)
on the quick preset's planted source (32 unit features in 16 dimensions, probability 0.05,
magnitude uniform on [0, 2]; 32 latents, batch 256, Adam lr 3e-3), a fresh batch every step as
our engine draws, in a plain PyTorch loop. Prints one JSON line.

    python benchmarks/saes_saelens.py STEPS REPEATS
"""

import json
import statistics
import sys
import time

import torch
from sae_lens.saes.sae import TrainStepInput
from sae_lens.saes.standard_sae import StandardTrainingSAE, StandardTrainingSAEConfig

N, D, M, P, BATCH, COEF, LR = 32, 16, 32, 0.05, 256, 0.3, 3e-3


def main(steps: int, repeats: int) -> None:
    torch.manual_seed(0)
    torch.set_num_threads(torch.get_num_threads())
    truth = torch.nn.functional.normalize(torch.randn(N, D), dim=1)
    sae = StandardTrainingSAE(StandardTrainingSAEConfig(d_in=D, d_sae=M, l1_coefficient=COEF))
    opt = torch.optim.Adam(sae.parameters(), lr=LR)

    def step(i: int) -> None:
        u = torch.rand(BATCH, N)
        x = torch.where(u < P, u / P * 2.0, torch.zeros(())) @ truth
        out = sae.training_forward_pass(TrainStepInput(x, {"l1": COEF}, None, i, False))
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        opt.step()

    def chunk() -> float:
        t0 = time.perf_counter()
        for i in range(steps):
            step(i)
        return time.perf_counter() - t0

    chunk()  # warm-up
    secs = [chunk() for _ in range(repeats)]
    med = statistics.median(secs)
    print(json.dumps({"library": "sae_lens", "torch": torch.__version__, "threads": torch.get_num_threads(),
                      "steps": steps, "chunk_s": secs, "ms_per_step": med / steps * 1e3, "steps_per_s": steps / med}))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
