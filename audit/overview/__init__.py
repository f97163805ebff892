"""What the web console's overview and model pages read: every model against the nine risk
subcategories with a findings trend (``fleet``), and one model's time series (``metrics``)."""
