"""Length-grouped batches for reward-model training.

A reward batch is padded to its longest chosen or rejected text, so a batch that mixes a
50-token pair with a 500-token one spends most of its compute on padding. transformers'
`train_sampling_strategy="group_by_length"` fixes that by drawing batches of similar
length, but it reads lengths from an `input_ids` (or `length`) column, and TRL's
RewardTrainer has neither: its rows hold `chosen_ids` and `rejected_ids`, and any other
column is removed before the sampler is built. This subclass gives the sampler the
lengths the collator will actually pad to, max(chosen, rejected), and changes nothing else.
"""

from __future__ import annotations

from transformers.trainer_pt_utils import LengthGroupedSampler


def with_pair_length_grouping(trainer_class):
    """`trainer_class` whose group_by_length sampler understands chosen/rejected rows."""
    class PairLengthGrouped(trainer_class):
        def _get_train_sampler(self, train_dataset=None):
            dataset = self.train_dataset if train_dataset is None else train_dataset
            columns = getattr(dataset, "column_names", None) or []
            if self.args.train_sampling_strategy != "group_by_length" or "chosen_ids" not in columns:
                return super()._get_train_sampler(train_dataset)
            lengths = [max(len(c), len(r)) for c, r in zip(dataset["chosen_ids"], dataset["rejected_ids"])]
            return LengthGroupedSampler(self.args.train_batch_size * self.args.gradient_accumulation_steps,
                                        lengths=lengths)

    PairLengthGrouped.__name__ = f"PairLengthGrouped{trainer_class.__name__}"
    return PairLengthGrouped
