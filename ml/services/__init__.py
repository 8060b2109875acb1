"""The Django side of ML: one module per operation, none of them importing torch at load time.

- `engine`: the one lazy entry to the engine (ml.engine, torch/MONAI), the recipe catalogue read
  without torch, the training device and the gpu queue.
- `snapshots`: immutable data set snapshots built from annotated exams.
- `training`: start a training run and do its work on the worker.
- `registry`: register, activate and retire model versions; their artifacts as local files.
- `evaluation`: evaluation jobs and the evaluation of a folder (manage.py evaluate).
- `prediction`: prediction jobs that store Predictions with their probability maps.
- `results`: metrics as plain JSON values.
- `errors`: the domain errors these raise for requests they refuse (the API turns them into 400s).

Dependencies run one way: engine, results and errors depend on nothing here; snapshots on
errors (and the engine's torch-free types); registry on results; training, evaluation and
prediction on the rest. Celery tasks (ml.tasks) import the services; the services enqueue tasks
by name and never import ml.tasks (tests/ml/test_services_package.py keeps both rules).
"""
