{{/* Chart name, truncated to the 63 characters of a DNS label. */}}
{{- define "clouddb-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: the release name when it already contains the chart name (`helm install clouddb-operator`). */}}
{{- define "clouddb-operator.fullname" -}}
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

{{- define "clouddb-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "clouddb-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "clouddb-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "clouddb-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: clouddb-operator
{{- end }}

{{- define "clouddb-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "clouddb-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "clouddb-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Whether the operator is limited to a list of namespaces. */}}
{{- define "clouddb-operator.namespaced" -}}
{{- if gt (len .Values.watchNamespaces) 0 }}true{{ end }}
{{- end }}

{{/* The generated CRDs the operator waits for (get, and list/watch by name). */}}
{{- define "clouddb-operator.crdNames" -}}
- clickhouseservices.clouddb.dev
- tidbcloudbranches.clouddb.dev
- tidbcloudclusters.clouddb.dev
- tidbcloudimports.clouddb.dev
- tidbcloudintegrations.clouddb.dev
- tidbcloudserverlessclusters.clouddb.dev
- tidbcloudsqlusers.clouddb.dev
{{- end }}

{{/*
Rules the operator needs wherever it manages resources (a ClusterRole for all namespaces, else a Role in each
watched namespace). Exactly the calls it makes, no wildcards:
- TidbCloudClusters, TidbCloudImports, TidbCloudIntegrations, TidbCloudServerlessClusters, TidbCloudSqlUsers, TidbCloudBranches, ClickHouseServices: list/watch (the controller), patch
  (finalizer), status patch (server-side apply);
- Secrets: get (credentials and root-password references, the connection Secret), list/watch (changes to referenced
  Secrets and to the connection Secrets it owns), create+patch (server-side apply of the connection Secret: an
  apply that creates needs create too);
- Events (events.k8s.io): create, and patch for repeated events (kube-runtime's Recorder).
*/}}
{{- define "clouddb-operator.workloadRules" -}}
- apiGroups: ["clouddb.dev"]
  resources: ["tidbcloudclusters", "tidbcloudimports", "tidbcloudintegrations", "tidbcloudserverlessclusters", "tidbcloudsqlusers", "tidbcloudbranches", "clickhouseservices"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["clouddb.dev"]
  resources: ["tidbcloudclusters/status", "tidbcloudimports/status", "tidbcloudintegrations/status", "tidbcloudserverlessclusters/status", "tidbcloudsqlusers/status", "tidbcloudbranches/status", "clickhouseservices/status"]
  verbs: ["get", "patch"]
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch", "create", "patch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}

{{/* Cross-field checks the schema cannot express. */}}
{{- define "clouddb-operator.validate" -}}
{{- if and (gt (int .Values.replicas) 1) (not .Values.leaderElection.enabled) }}
{{- fail "replicas > 1 needs leaderElection.enabled=true (otherwise every replica would reconcile)" }}
{{- end }}
{{- if and .Values.extraCA.configMap .Values.extraCA.secret }}
{{- fail "set at most one of extraCA.configMap and extraCA.secret" }}
{{- end }}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.metrics.service.enabled) }}
{{- fail "metrics.serviceMonitor.enabled needs metrics.service.enabled" }}
{{- end }}
{{- end }}
