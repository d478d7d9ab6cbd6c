"""PPOConfig: every setting `rmbench train ppo` takes (trainers/ppo.yaml, --set), checked at once.

Kept apart from the loop as TRL keeps `*_config.py` beside `*_trainer.py`: the recipe checker and
the CLI read the fields without importing torch's training machinery.
"""

from __future__ import annotations

from dataclasses import dataclass

from rmbench.errors import RmbenchError
from rmbench.trainers.recipes import RecipeError


@dataclass
class PPOConfig:
    """Everything `train:` in trainers/ppo.yaml (or --set) may set for `rmbench train ppo`."""

    # reward: exactly one of the two
    reward_model: str | None = None  # rmbench RM checkpoint (sequence classifier): folder, .gguf or hub id
    reward_fn: str | None = None  # module:function or path/to/file.py:function; (prompts, completions) -> floats
    value_model: str = "auto"  # auto | policy | reward | a checkpoint path
    # rollouts
    response_length: int = 128  # most completion tokens sampled
    max_prompt_length: int = 512  # longer prompts are cut from the left
    temperature: float = 1.0
    missing_eos_penalty: float | None = None  # subtracted from the score of a completion with no stop token
    rollout_forward_batch_size: int = 16  # rows per sampling / no-grad forward chunk
    # batch: rollout batch per device = per_device_train_batch_size * gradient_accumulation_steps * num_mini_batches
    per_device_train_batch_size: int = 4
    gradient_accumulation_steps: int = 1
    num_mini_batches: int = 1
    num_ppo_epochs: int = 4
    # length of the run: max_steps, else total_episodes (completions), else num_train_epochs over the prompts
    max_steps: int | None = None
    total_episodes: int | None = None
    num_train_epochs: float = 1.0
    # optimisation
    learning_rate: float = 3e-6
    lr_scheduler_type: str = "linear"  # linear (decay to 0) | constant
    warmup_steps: int = 0
    weight_decay: float = 0.0
    max_grad_norm: float | None = 1.0
    bf16: bool = False  # bf16 autocast (accelerate mixed precision)
    activation_checkpointing: bool = False
    # PPO
    kl_coef: float = 0.05
    kl_estimator: str = "k1"  # k1 | k3 (see ppo_core.kl_per_token)
    gamma: float = 1.0
    lam: float = 0.95
    cliprange: float = 0.2
    cliprange_value: float = 0.2
    vf_coef: float = 0.1
    whiten_rewards: bool = False
    whiten_advantages: bool = True
    # output
    logging_steps: int = 1
    save_steps: int = 100  # 0: only the final checkpoint
    save_total_limit: int | None = None

    def __post_init__(self):
        positive = ("response_length", "max_prompt_length", "rollout_forward_batch_size", "per_device_train_batch_size",
                    "gradient_accumulation_steps", "num_mini_batches", "num_ppo_epochs", "logging_steps")
        problems = [f"{name} must be a positive whole number" for name in positive
                    if not isinstance(getattr(self, name), int) or getattr(self, name) < 1]
        for name in ("max_steps", "total_episodes", "save_total_limit"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                problems.append(f"{name} must be a positive whole number or null")
        for name in ("learning_rate", "temperature", "cliprange", "cliprange_value", "kl_coef", "vf_coef",
                     "gamma", "lam", "num_train_epochs", "weight_decay", "warmup_steps", "save_steps"):
            if not isinstance(getattr(self, name), (int, float)) or getattr(self, name) < 0:
                problems.append(f"{name} must be a number >= 0")
        if not problems:
            if self.temperature <= 0 or self.cliprange <= 0 or self.cliprange_value <= 0:
                problems.append("temperature, cliprange and cliprange_value must be above 0")
            if self.gamma > 1 or self.lam > 1:
                problems.append("gamma and lam must lie in [0, 1]")
        if self.kl_estimator not in ("k1", "k3"):
            problems.append(f"kl_estimator must be k1 or k3, not {self.kl_estimator!r}")
        if self.lr_scheduler_type not in ("linear", "constant"):
            problems.append(f"lr_scheduler_type must be linear or constant, not {self.lr_scheduler_type!r}")
        if problems:
            raise RecipeError("ppo: " + "; ".join(problems))

    @property
    def local_batch_size(self) -> int:
        return self.per_device_train_batch_size * self.gradient_accumulation_steps * self.num_mini_batches

    def check_reward(self) -> None:
        """Exactly one reward source, named in one clear line."""
        how = ("--set reward_model=CHECKPOINT (a sequence-classification reward model) or --set "
               "reward_fn=module:function (or path/to/file.py:function)")
        if self.reward_model is None and self.reward_fn is None:
            raise RmbenchError(f"ppo needs a reward: {how}")
        if self.reward_model is not None and self.reward_fn is not None:
            raise RmbenchError(f"ppo takes one reward, got both reward_model={self.reward_model} and "
                               f"reward_fn={self.reward_fn}: drop one")
        for name in ("reward_model", "reward_fn"):
            if isinstance(getattr(self, name), (list, tuple)):
                raise RmbenchError(f"ppo takes one reward, got a list for {name}: name one (or sum several "
                                   "in one Python function)")


def make_config(train_args: dict) -> PPOConfig:
    try:
        return PPOConfig(**train_args)
    except TypeError as err:  # a value of the wrong type reached a comparison
        raise RecipeError(f"ppo: invalid setting ({err})") from err
