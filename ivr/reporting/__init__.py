"""Reports written as files for people: KPI tables as HTML with charts, CSV and spreadsheets."""
