"""Invoice documents: the data they show, the EN 16931 XML and the PDF/A-3 that carries it."""
