{{/* Chart name, truncated to 63 characters. */}}
{{- define "modelpack-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name; the release name alone when it already contains the chart name. */}}
{{- define "modelpack-operator.fullname" -}}
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

{{- define "modelpack-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "modelpack-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: modelpack-operator
{{- end }}

{{- define "modelpack-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "modelpack-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The operator pods' labels (selectors of the Deployment, PDB and Services). */}}
{{- define "modelpack-operator.podSelectorLabels" -}}
{{ include "modelpack-operator.selectorLabels" . }}
app.kubernetes.io/component: operator
{{- end }}

{{/* serviceAccount.name, else <fullname> when the chart creates it (_validate.tpl requires a name otherwise). */}}
{{- define "modelpack-operator.serviceAccountName" -}}
{{- default (include "modelpack-operator.fullname" .) .Values.serviceAccount.name }}
{{- end }}

{{- define "modelpack-operator.webhookService" -}}
{{- printf "%s-webhook" (include "modelpack-operator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "modelpack-operator.webhookSecret" -}}
{{- default (printf "%s-webhook-tls" (include "modelpack-operator.fullname" .)) .Values.webhook.certificates.secretName }}
{{- end }}

{{- define "modelpack-operator.caConfigMap" -}}
{{- default (printf "%s-ca" (include "modelpack-operator.fullname" .)) .Values.caBundle.existingConfigMap }}
{{- end }}

{{/* repository[:tag][@digest] */}}
{{- define "modelpack-operator.imageRef" -}}
{{- $image := index . 0 }}{{- $defaultTag := index . 1 }}
{{- $ref := printf "%s:%s" $image.repository (default $defaultTag $image.tag) }}
{{- if $image.digest }}{{- $ref = printf "%s@%s" $ref $image.digest }}{{- end }}
{{- $ref }}
{{- end }}

{{- define "modelpack-operator.image" -}}
{{- include "modelpack-operator.imageRef" (list .Values.image .Chart.AppVersion) }}
{{- end }}

{{/* The init image: initImage when its repository is set, else the operator image. */}}
{{- define "modelpack-operator.initImage" -}}
{{- if .Values.initImage.repository }}
{{- include "modelpack-operator.imageRef" (list .Values.initImage .Chart.AppVersion) }}
{{- else }}
{{- include "modelpack-operator.image" . }}
{{- end }}
{{- end }}
