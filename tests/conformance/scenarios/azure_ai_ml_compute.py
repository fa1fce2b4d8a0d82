"""azure-ai-ml 1.35, unchanged, against the emulator as a custom cloud (ARM_CLOUD_METADATA_URL).

Runs with the scratch venv's python; the test passes the emulator's URL, identities and CA
(REQUESTS_CA_BUNDLE) in the environment.
"""

from __future__ import annotations

import os

from azure.ai.ml import MLClient
from azure.ai.ml.entities import AmlCompute, ComputeInstance
from azure.identity import ClientSecretCredential
from step_protocol import step  # beside this script, so first on sys.path


def main() -> None:
    env = os.environ
    credential = ClientSecretCredential(
        env["AZURE_TENANT_ID"],
        env["AZURE_CLIENT_ID"],
        env["AZURE_CLIENT_SECRET"],
        authority=env["EMULATOR_URL"],
        disable_instance_discovery=True,
    )
    ml = MLClient(credential, env["SUBSCRIPTION_ID"], env["RESOURCE_GROUP"], env["WORKSPACE"])
    cluster, instance = env["CLUSTER_NAME"], env["INSTANCE_NAME"]

    created = ml.compute.begin_create_or_update(
        AmlCompute(name=cluster, size="Standard_DS3_v2", min_instances=0, max_instances=2)
    ).result()
    step("cluster.create", compute=cluster, state=created.provisioning_state)
    got = ml.compute.get(cluster)
    step("cluster.get", compute=cluster, size=got.size, max_instances=got.max_instances)
    names = [c.name for c in ml.compute.list()]
    step("cluster.list", compute=cluster, names=names)
    got.min_instances, got.max_instances = 1, 3
    scaled = ml.compute.begin_update(got).result()
    step("cluster.scale", compute=cluster, min_instances=scaled.min_instances, max_instances=scaled.max_instances)
    nodes = list(ml.compute.list_nodes(cluster))
    step("cluster.nodes", compute=cluster, nodes=len(nodes))
    ml.compute.begin_delete(cluster).result()
    step("cluster.delete", compute=cluster)

    ci = ml.compute.begin_create_or_update(ComputeInstance(name=instance, size="Standard_DS3_v2")).result()
    step("instance.create", compute=instance, state=ci.state)
    ml.compute.begin_stop(instance).result()
    step("instance.stop", compute=instance)
    ml.compute.begin_start(instance).result()
    step("instance.start", compute=instance)
    ml.compute.begin_restart(instance).result()
    step("instance.restart", compute=instance)
    ml.compute.begin_delete(instance).result()
    step("instance.delete", compute=instance)


if __name__ == "__main__":
    main()
