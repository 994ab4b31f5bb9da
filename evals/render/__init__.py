"""The report's human and CI views: Markdown, JUnit XML and HTML, one module each."""
