{{/* Chart name, overridable with nameOverride. */}}
{{- define "sutra-grid.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name of the release's objects. Kubernetes names are limited to 63 characters; a release
name that already contains the chart name is used as it is.
*/}}
{{- define "sutra-grid.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The storage nodes' ClusterRole; the operator binds it in each namespace with StorageNodes. */}}
{{- define "sutra-grid.storageNodeClusterRole" -}}
{{- printf "%s-storage-node" (include "sutra-grid.fullname" .) }}
{{- end }}

{{- define "sutra-grid.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels that select the operator's Pods; never change them after a release exists. */}}
{{- define "sutra-grid.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sutra-grid.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "sutra-grid.labels" -}}
helm.sh/chart: {{ include "sutra-grid.chart" . }}
{{ include "sutra-grid.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: sutra-grid
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "sutra-grid.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "sutra-grid.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "sutra-grid.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The variant rules file: the value when given, else the copy of config/variants.yaml. */}}
{{- define "sutra-grid.variantRules" -}}
{{- if .Values.variantRules }}
{{- .Values.variantRules }}
{{- else }}
{{- .Files.Get "files/variants.yaml" }}
{{- end }}
{{- end }}
