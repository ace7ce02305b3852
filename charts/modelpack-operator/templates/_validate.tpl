{{/*
Consistency checks over several values, which values.schema.json cannot express. Each failure
names the values, what would go wrong in the cluster, and the fix. Included by deployment.yaml.
*/}}
{{- define "modelpack-operator.validate" -}}
{{- $replicas := int .Values.replicaCount }}
{{- $pdb := .Values.podDisruptionBudget }}
{{- if and $pdb.enabled (gt $replicas 1) }}
{{- $min := toString $pdb.minAvailable }}
{{- if hasSuffix "%" $min }}
{{- if ge (int (trimSuffix "%" $min)) 100 }}
{{- fail (printf "podDisruptionBudget.minAvailable=%s keeps every one of the %d operator pods up, so no node holding one can be drained (kubectl drain and cluster upgrades wait forever): set it below 100%% (e.g. 50%%), or disable the budget (podDisruptionBudget.enabled=false)" $min $replicas) }}
{{- end }}
{{- else if ge (int $min) $replicas }}
{{- fail (printf "podDisruptionBudget.minAvailable=%s with replicaCount=%d: no operator pod may ever be evicted, so no node holding one can be drained (kubectl drain and cluster upgrades wait forever): set minAvailable below replicaCount (e.g. %d), raise replicaCount, or disable the budget (podDisruptionBudget.enabled=false)" $min $replicas (sub $replicas 1)) }}
{{- end }}
{{- end }}
{{- range .Values.watchNamespaces }}
{{- if or (eq . $.Release.Namespace) (eq . "kube-system") }}
{{- fail (printf "watchNamespaces lists %q, but the webhook never serves %s (so that the operator's own pods and the control plane's never wait for it): its pods would never get a model, and the operator refuses to start with such a list. Remove %q from watchNamespaces, and put ModelDeployments in a namespace other than the release's" . (ternary "the release namespace" "kube-system" (eq . $.Release.Namespace)) .) }}
{{- end }}
{{- end }}
{{- if eq (int .Values.healthPort) (int .Values.webhook.port) }}
{{- fail (printf "healthPort and webhook.port are both %d: the operator cannot serve /healthz, /readyz, /metrics and the webhook on one port (with hostNetwork, on one port of the node). Give them different ports" (int .Values.healthPort)) }}
{{- end }}
{{- if and (not .Values.serviceAccount.create) (not .Values.serviceAccount.name) }}
{{- fail "serviceAccount.create=false needs serviceAccount.name: the existing ServiceAccount in the release namespace that the operator runs as (the chart binds its roles to it)" }}
{{- end }}
{{- end }}
