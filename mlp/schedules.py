"""Learning-rate schedules as pure functions of the step."""
import math


def constant(base_lr, step, total_steps):
    return base_lr


def cosine(base_lr, step, total_steps):
    """Half a cosine from base_lr down to 1% of it over the whole run."""
    progress = min(step / max(total_steps, 1), 1.0)
    return base_lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * progress)))


# name -> function(base_lr, step, total_steps) -> learning rate at that step
SCHEDULES = {
    "constant": constant,
    "cosine": cosine,
}
