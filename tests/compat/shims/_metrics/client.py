"""``oslo_messaging._metrics.client``: names only, so rpc/test_client imports.

rpcmsg has no oslo.metrics integration; the one test using this module (``test_metrics``)
patches it and is excluded.
"""

METRICS_COLLECTOR = None


class MetricsCollectorClient:
    def put_rpc_client_metrics_to_txqueue(self, *args, **kwargs):
        raise NotImplementedError("rpcmsg has no oslo.metrics integration")
