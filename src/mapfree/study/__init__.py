"""`mapfree study`: the seed's question (does depth supervision improve MicKey?) as a controlled study.

    from mapfree.study import StudyConfig, run_study
    study = run_study(StudyConfig.load("quick"), "outputs/study_quick")   # study.json's content

A study is data (:class:`StudyConfig`, packaged ones in `mapfree/configs/study/`): a benchmark with a
held-out test split, shared feature pretraining, a relative and a metric teacher, arms (configuration
deltas of one training config) and seeds. `pipeline` makes the shared inputs once and runs every
(arm, seed) in worker processes (`runs`); `records` keep what each run leaves; `metrics`, `stats`
(paired scene bootstrap) and `report` turn them into study.json, report.md and a forest plot.
"""

from mapfree.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "ArmConfig": "mapfree.study.config",
    "StudyConfig": "mapfree.study.config",
    "TeacherConfig": "mapfree.study.config",
    "run_study": "mapfree.study.run",
})
__all__ = ["ArmConfig", "StudyConfig", "TeacherConfig", "run_study"]
