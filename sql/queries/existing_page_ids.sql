-- Which of the page ids :ids exist.
SELECT page_id FROM pages WHERE page_id = ANY(:ids);
