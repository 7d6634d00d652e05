# Complaints, blocks, restorations and compensation offers arrive with their own issue.
