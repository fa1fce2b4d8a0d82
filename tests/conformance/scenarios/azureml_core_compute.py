"""azureml-core 1.61 (the v1 SDK), unchanged, against the emulator as a custom cloud.

The cloud comes from ARM_CLOUD_METADATA_URL (azureml-core registers it under the document's name);
the test passes the emulator's URL, identities, CA (REQUESTS_CA_BUNDLE) and the Azure ids of the
resources to attach in the environment.
"""

from __future__ import annotations

import os

from azureml.core import Workspace
from azureml.core.authentication import ServicePrincipalAuthentication
from azureml.core.compute import (
    AksCompute,
    AmlCompute,
    ComputeInstance,
    ComputeTarget,
    DatabricksCompute,
    HDInsightCompute,
    RemoteCompute,
)
from step_protocol import step  # beside this script, so first on sys.path


def main() -> None:
    env = os.environ
    auth = ServicePrincipalAuthentication(
        env["AZURE_TENANT_ID"], env["AZURE_CLIENT_ID"], env["AZURE_CLIENT_SECRET"], cloud=env["CLOUD_NAME"]
    )
    ws = Workspace(env["SUBSCRIPTION_ID"], env["RESOURCE_GROUP"], env["WORKSPACE"], auth=auth)
    names = {
        key: env[f"{key.upper()}_NAME"] for key in ("cluster", "instance", "aks", "aks_attached", "vm", "hdi", "dbx")
    }

    cluster = names["cluster"]
    config = AmlCompute.provisioning_configuration(
        vm_size="Standard_DS3_v2", vm_priority="dedicated", min_nodes=0, max_nodes=2
    )
    created = ComputeTarget.create(ws, cluster, config)
    created.wait_for_completion(show_output=False)
    step("cluster.create", compute=cluster, state=created.provisioning_state)
    got = ComputeTarget(ws, cluster)
    step(
        "cluster.get",
        compute=cluster,
        type=type(got).__name__,
        vm_size=got.vm_size,
        max_nodes=got.scale_settings.maximum_node_count,
    )
    step("cluster.list", compute=cluster, names=[c.name for c in ComputeTarget.list(ws)])
    got.update(min_nodes=1, max_nodes=3)
    got.wait_for_completion(show_output=False)
    step(
        "cluster.scale",
        compute=cluster,
        min_nodes=got.scale_settings.minimum_node_count,
        max_nodes=got.scale_settings.maximum_node_count,
    )
    step("cluster.nodes", compute=cluster, nodes=len(got.list_nodes()))
    got.delete()
    got.wait_for_completion(show_output=False, is_delete_operation=True)
    step("cluster.delete", compute=cluster)

    instance = names["instance"]
    ci = ComputeTarget.create(ws, instance, ComputeInstance.provisioning_configuration(vm_size="Standard_DS3_v2"))
    ci.wait_for_completion(show_output=False)
    step("instance.create", compute=instance, state=ci.get_status().state)
    ci.stop(wait_for_completion=True, show_output=False)
    step("instance.stop", compute=instance)
    ci.start(wait_for_completion=True, show_output=False)
    step("instance.start", compute=instance)
    ci.restart(wait_for_completion=True, show_output=False)
    step("instance.restart", compute=instance)
    ci.delete(wait_for_completion=True, show_output=False)
    step("instance.delete", compute=instance)

    aks = ComputeTarget.create(
        ws, names["aks"], AksCompute.provisioning_configuration(agent_count=3, vm_size="Standard_D3_v2")
    )
    aks.wait_for_completion(show_output=False)
    step("aks.create", compute=names["aks"], state=aks.provisioning_state, fqdn=aks.cluster_fqdn)
    attached = ComputeTarget.attach(
        ws, names["aks_attached"], AksCompute.attach_configuration(resource_id=env["AKS_ID"])
    )
    attached.wait_for_completion(show_output=False)
    step("aks.attach", compute=names["aks_attached"], state=attached.provisioning_state)

    vm = ComputeTarget.attach(
        ws,
        names["vm"],
        RemoteCompute.attach_configuration(
            resource_id=env["VM_ID"], ssh_port=22, username="azureuser", password="vm-pass"
        ),
    )
    vm.wait_for_completion(show_output=False)
    step("vm.attach", compute=names["vm"], state=vm.provisioning_state)
    hdi = ComputeTarget.attach(
        ws,
        names["hdi"],
        HDInsightCompute.attach_configuration(
            resource_id=env["HDI_ID"], ssh_port=22, username="sshuser", password="hdi-pass"
        ),
    )
    hdi.wait_for_completion(show_output=False)
    step("hdi.attach", compute=names["hdi"], state=hdi.provisioning_state)
    dbx = ComputeTarget.attach(
        ws,
        names["dbx"],
        DatabricksCompute.attach_configuration(
            resource_group=env["RESOURCE_GROUP"], workspace_name=env["DBX_WORKSPACE"], access_token="dbx-token"
        ),
    )
    dbx.wait_for_completion(show_output=False)
    step("dbx.attach", compute=names["dbx"], state=dbx.provisioning_state)


if __name__ == "__main__":
    main()
