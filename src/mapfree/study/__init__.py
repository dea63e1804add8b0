"""`mapfree study`: the seed's question (does depth supervision improve MicKey?) as a controlled study.

    from mapfree.study import StudyConfig, run_study
    study = run_study(StudyConfig.load("quick"), "outputs/study_quick")   # study.json's content

A study is data (:class:`StudyConfig`, packaged ones in `mapfree/configs/study/`): a benchmark with a
held-out test split, shared feature pretraining, a relative and a metric teacher, arms (configuration
deltas of one training config) and seeds. `pipeline` makes the shared inputs once and runs every
(arm, seed) in worker processes (`runs`); `records` keep what each run leaves; `metrics`, `stats`
(paired scene bootstrap) and `report` turn them into study.json, report.md and a forest plot.
"""

from mapfree.study.config import ArmConfig, StudyConfig, TeacherConfig
from mapfree.study.run import run_study

__all__ = ["ArmConfig", "StudyConfig", "TeacherConfig", "run_study"]
