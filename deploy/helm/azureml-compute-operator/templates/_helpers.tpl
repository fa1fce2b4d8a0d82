{{- define "aml.name" -}}
azureml-compute-operator
{{- end }}

{{- define "aml.fullname" -}}
{{- if contains "azureml-compute-operator" .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-azureml-compute-operator" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end }}

{{- define "aml.selectorLabels" -}}
app.kubernetes.io/name: {{ include "aml.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "aml.labels" -}}
{{ include "aml.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{- define "aml.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "aml.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end }}

{{- define "aml.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end }}

{{/* More than one replica: kopf peering elects the active one. */}}
{{- define "aml.peering" -}}
{{- if gt (int .Values.replicas) 1 -}}
{{- default (include "aml.fullname" .) .Values.peering.name -}}
{{- end -}}
{{- end }}

{{/* The cluster id: the value, else the uid of kube-system looked up at install time, else "" (the
operator reads it itself at start-up, and the RBAC grants it that one read). */}}
{{- define "aml.clusterId" -}}
{{- if .Values.clusterId -}}
{{- .Values.clusterId -}}
{{- else -}}
{{- $ns := lookup "v1" "Namespace" "" "kube-system" -}}
{{- if $ns -}}
{{- $ns.metadata.uid -}}
{{- end -}}
{{- end -}}
{{- end }}
