-- FOCUS 1.2 rows from mart.cost_hourly: one row per hour and cost row; custom columns prefixed x_.
-- BilledCost/ListCost/ContractedCost = the row's own cost (usage basis); EffectiveCost = allocation basis
-- (idle and shared-namespace cost included, reconciles to the bill).
WITH c AS (
    SELECT *, count(*) FILTER (WHERE kind = 'container') OVER (PARTITION BY hour, namespace, pod) AS n_ctr
    FROM mart.cost_hourly WHERE hour >= $start AND hour < $end
), i AS (
    SELECT hour, namespace, pod, sum(requests) AS requests, sum(input_tokens) AS input_tokens,
           sum(output_tokens) AS output_tokens
    FROM mart.inference_hourly WHERE hour >= $start AND hour < $end GROUP BY ALL
)
SELECT
    c.usage_cost AS BilledCost,
    'neocost' AS BillingAccountId,
    'neocost cluster allocation' AS BillingAccountName,
    $currency AS BillingCurrency,
    date_trunc('month', c.hour) AS BillingPeriodStart,
    date_trunc('month', c.hour) + INTERVAL 1 MONTH AS BillingPeriodEnd,
    'Usage' AS ChargeCategory,
    CAST(NULL AS VARCHAR) AS ChargeClass,
    CASE c.kind WHEN 'container' THEN 'GPU/CPU/RAM allocation of container ' || c.namespace || '/' || c.pod || '/' || c.container
                WHEN 'egress' THEN 'Network egress of pod ' || c.namespace || '/' || c.pod
                WHEN 'storage' THEN 'Object storage of bucket ' || c.bucket
                WHEN 'volume' THEN 'Persistent volume claim ' || c.pvc
                    || CASE WHEN c.pod = '' THEN ' (unmounted)' ELSE ' mounted by ' || c.namespace || '/' || c.pod END
                ELSE 'Idle capacity of node ' || c.node END AS ChargeDescription,
    'Usage-Based' AS ChargeFrequency,
    c.hour AS ChargePeriodStart,
    c.hour + INTERVAL 1 HOUR AS ChargePeriodEnd,
    c.usage_cost AS ContractedCost,
    c.allocation_cost AS EffectiveCost,
    'neocost' AS InvoiceIssuerName,
    c.usage_cost AS ListCost,
    CASE c.kind WHEN 'container' THEN CASE WHEN c.gpu_hours > 0 THEN c.gpu_hours ELSE c.cpu_core_hours END
                WHEN 'egress' THEN c.tx_bytes / 1073741824.0
                WHEN 'storage' THEN c.storage_bytes / 1073741824.0 / 730.0
                WHEN 'volume' THEN c.volume_gib_hours / 730.0
                ELSE 1.0 END AS PricingQuantity,
    CASE c.kind WHEN 'container' THEN CASE WHEN c.gpu_hours > 0 THEN 'GPU-Hours' ELSE 'Core-Hours' END
                WHEN 'egress' THEN 'GiB' WHEN 'storage' THEN 'GiB-Months' WHEN 'volume' THEN 'GiB-Months'
                ELSE 'Hours' END AS PricingUnit,
    CASE c.kind WHEN 'container' THEN CASE WHEN c.gpu_hours > 0 THEN c.gpu_hours ELSE c.cpu_core_hours END
                WHEN 'egress' THEN c.tx_bytes / 1073741824.0
                WHEN 'storage' THEN c.storage_bytes / 1073741824.0 / 730.0
                WHEN 'volume' THEN c.volume_gib_hours / 730.0
                ELSE 1.0 END AS ConsumedQuantity,
    CASE c.kind WHEN 'container' THEN CASE WHEN c.gpu_hours > 0 THEN 'GPU-Hours' ELSE 'Core-Hours' END
                WHEN 'egress' THEN 'GiB' WHEN 'storage' THEN 'GiB-Months' WHEN 'volume' THEN 'GiB-Months'
                ELSE 'Hours' END AS ConsumedUnit,
    'Kubernetes' AS ProviderName,
    'neocost' AS PublisherName,
    CASE c.kind WHEN 'storage' THEN c.bucket WHEN 'idle' THEN c.node
                WHEN 'volume' THEN c.pvc || CASE WHEN c.pod = '' THEN '' ELSE '@' || c.pod END
                WHEN 'egress' THEN c.namespace || '/' || c.pod
                ELSE c.namespace || '/' || c.pod || '/' || c.container END AS ResourceId,
    CASE c.kind WHEN 'storage' THEN c.bucket WHEN 'idle' THEN c.node WHEN 'volume' THEN c.pvc
                ELSE c.pod END AS ResourceName,
    CASE c.kind WHEN 'container' THEN 'Kubernetes Container' WHEN 'egress' THEN 'Kubernetes Pod'
                WHEN 'storage' THEN 'Object Storage Bucket' WHEN 'volume' THEN 'Kubernetes PersistentVolumeClaim'
                ELSE 'Kubernetes Node' END AS ResourceType,
    CASE WHEN c.kind IN ('storage', 'volume') THEN 'Storage' WHEN c.kind = 'egress' THEN 'Networking'
         WHEN c.gpu_hours > 0 OR c.model NOT IN ('__unallocated__', '__idle__') THEN 'AI and Machine Learning'
         ELSE 'Compute' END AS ServiceCategory,
    CASE WHEN c.kind = 'storage' THEN 'Object Storage' WHEN c.kind = 'volume' THEN 'Block Storage'
         WHEN c.kind = 'egress' THEN 'Network Egress'
         WHEN i.requests IS NOT NULL THEN 'Self-hosted inference'
         WHEN c.job <> '' THEN 'Training' ELSE 'Kubernetes' END AS ServiceName,
    to_json(map_from_entries(list_filter([
        {'k': 'team', 'v': c.team}, {'k': 'project', 'v': c.project}, {'k': 'model', 'v': c.model},
        {'k': 'env', 'v': c.env}, {'k': 'cost_center', 'v': c.cost_center}],
        lambda e: e.v NOT IN ('__unallocated__', '__idle__', ''))))::VARCHAR AS Tags,
    'allocation' AS x_CostBasis,
    c.kind AS x_Kind,
    nullif(c.namespace, '') AS x_Namespace,
    nullif(c.pod, '') AS x_Pod,
    nullif(c.container, '') AS x_Container,
    nullif(c.node, '') AS x_Node,
    c.node_pool AS x_NodePool,
    nullif(c.capacity_type, '') AS x_CapacityType,
    c.team AS x_Team,
    c.model AS x_ModelName,
    nullif(c.job, '') AS x_TrainingRun,
    c.gpu_hours AS x_GpuHours,
    c.gpu_cost AS x_GpuCost,
    c.cpu_cost AS x_CpuCost,
    c.ram_cost AS x_RamCost,
    c.egress_cost AS x_EgressCost,
    c.storage_cost AS x_StorageCost,
    c.volume_cost AS x_VolumeCost,
    CASE WHEN c.kind = 'idle' THEN c.usage_cost ELSE c.idle_gpu_cost + c.idle_cpu_cost + c.idle_ram_cost END AS x_IdleCost,
    c.shared_cost AS x_SharedCost,
    CASE WHEN c.kind = 'container' THEN i.requests / c.n_ctr END AS x_Inferences,
    CASE WHEN c.kind = 'container' THEN i.input_tokens / c.n_ctr END AS x_InputTokens,
    CASE WHEN c.kind = 'container' THEN i.output_tokens / c.n_ctr END AS x_OutputTokens
FROM c LEFT JOIN i ON i.hour = c.hour AND i.namespace = c.namespace AND i.pod = c.pod AND c.kind = 'container'
ORDER BY c.hour, ResourceId
