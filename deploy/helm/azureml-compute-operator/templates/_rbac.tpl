{{/*
The rules of the operator's roles, in one place so the namespaced (Role per watched namespace) and
the cluster-wide (ClusterRole) installs grant exactly the same. No wildcards: every rule names its
API group, resources and verbs. "domain" rules serve the operator's own logic, "framework" rules
serve kopf. tests/delivery/test_rbac.py runs the operator under these rules on a real API server
and shows what breaks without each one.
*/}}

{{- define "aml.rules.namespaced" -}}
# domain: watch our five kinds (kopf lists then watches them) and patch them: kopf writes its
# finalizer (azureml.dev/finalizer) and its bookkeeping annotations (operator.azureml.dev/*) on the
# object itself. No create/update/delete: users own the objects, the operator never writes spec.
- apiGroups: [azureml.dev]
  resources: [workspaces, computeclusters, computeinstances, attachedcomputes, inferenceclusters]
  verbs: [list, watch, patch]
# domain: conditions, observedGeneration and Azure facts go to the status subresource.
- apiGroups: [azureml.dev]
  resources: [workspaces/status, computeclusters/status, computeinstances/status, attachedcomputes/status, inferenceclusters/status]
  verbs: [patch]
# domain: a Workspace's credentials (service principal secret or certificate) and the Secrets
# computes refer to (admin passwords, SSH keys, attach credentials): read by name, never listed.
- apiGroups: [""]
  resources: [secrets]
  verbs: [get{{ if .Values.rbac.writeSecrets }}, create, update{{ end }}]
{{- if .Values.rbac.writeSecrets }}
  # create/update: the kubeconfig Secret an InferenceCluster publishes (spec.kubeconfigSecretRef),
  # created, then replaced when stale. No patch, no delete: the Secret carries an ownerReference to
  # its InferenceCluster and the garbage collector deletes it. Kubernetes cannot narrow `create` by
  # name; rbac.writeSecrets: false drops both verbs.
{{- end }}
# domain: Workspaces with spec.credentials.workloadIdentity: a short-lived token (TokenRequest) of the
# ServiceAccount a Workspace names, exchanged with Entra ID. Granted here, per watched namespace, so the
# operator can never speak for a ServiceAccount of a namespace it does not serve.
- apiGroups: [""]
  resources: [serviceaccounts/token]
  verbs: [create]
# domain + framework: events on transitions (the operator, through kopf.event). kopf posts
# core/v1 Events with create only.
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- end }}

{{- define "aml.rules.peering.namespaced" -}}
# framework: kopf peering, replicas > 1: each replica announces itself in the KopfPeering of every
# watched namespace (patch its status) and watches the others'.
- apiGroups: [kopf.dev]
  resources: [kopfpeerings]
  verbs: [list, watch]
- apiGroups: [kopf.dev]
  resources: [kopfpeerings]
  resourceNames: [{{ include "aml.peering" . }}]
  verbs: [patch]
{{- end }}

{{- define "aml.rules.peering.cluster" -}}
# framework: kopf peering, replicas > 1, cluster-wide: the same with one ClusterKopfPeering.
- apiGroups: [kopf.dev]
  resources: [clusterkopfpeerings]
  verbs: [list, watch]
- apiGroups: [kopf.dev]
  resources: [clusterkopfpeerings]
  resourceNames: [{{ include "aml.peering" . }}]
  verbs: [patch]
{{- end }}

{{- define "aml.rules.observation" -}}
{{- if .Values.rbac.frameworkObservation }}
# framework: kopf watches CustomResourceDefinitions to notice our CRDs being installed, upgraded or
# removed while it runs. Without it kopf scans once at start-up and warns.
- apiGroups: [apiextensions.k8s.io]
  resources: [customresourcedefinitions]
  verbs: [list, watch]
{{- if .Values.watch.namespaces }}
# framework: with listed namespaces, kopf watches namespaces to start serving one created after it
# started. Without it kopf assumes the listed namespaces exist and warns.
- apiGroups: [""]
  resources: [namespaces]
  verbs: [list, watch]
{{- end }}
{{- end }}
{{- if not (include "aml.clusterId" .) }}
# domain: no clusterId given and none looked up at install time: the operator reads the uid of the
# kube-system namespace at start-up to tag the Azure computes it owns (AML_CLUSTER_ID otherwise).
- apiGroups: [""]
  resources: [namespaces]
  resourceNames: [kube-system]
  verbs: [get]
{{- end }}
{{- end }}
