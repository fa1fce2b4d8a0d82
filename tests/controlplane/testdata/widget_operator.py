"""A trivial kopf operator: proves kopf runs against the local control plane end to end."""

import kopf


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: object) -> None:
    settings.persistence.finalizer = "testing.azureml.dev/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="testing.azureml.dev")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix="testing.azureml.dev")


@kopf.on.create("testing.azureml.dev", "v1", "widgets")
def widget_created(spec: kopf.Spec, patch: kopf.Patch, **_: object) -> None:
    patch.status["seen"] = True
    patch.status["capacity"] = spec["maxCount"] - spec["minCount"]
